#!/usr/bin/env python3
"""Drives egress25-admin's web console in a real browser (headless Chromium through chromedriver, Selenium), for
ConsoleBrowserTests.swift. Every wait is bounded; the first failed check ends the script with exit 1 and a line
"FAIL: <what>" on stderr. Screenshots of each page go to --screenshots (NN-name.png).

The flow:
  1. support: signs in with its token, searches the customer by id and by address, opens the customer page, grants
     an exception to --mx for 1 day through the form, and sees the success message and the exception's row.
     Around the submit it talks to the Swift test through files in --signal-dir (each written whole, by rename):
       ready    written before the submit; the script then waits for `go` (the test has started its prober);
       granted  "<unix time> <exception id>", written when the submit returned (the redirected page loaded);
                the script then waits for `checked` ("ok", or why not), written once the test has probed the MX.
  2. abuse: signs in, opens the top offenders (the source and its fan-out in the table), the source's timeline
     (an <svg> chart with bars), and the CSV export: the link is clicked (the download is checked) and fetched
     with the session cookie (status, type, header line, the source's rows).
  3. support again: /abuse/top is the 403 page, and the navigation has no abuse links; a POST of the grant form
     without the CSRF token (and one with a wrong token), with the session cookie, gets 403 and the customer page
     still lists one exception.

usage: console_browser.py --base URL --support-token T --abuse-token T --customer ID --address ADDR --mx ADDR
       --fan-out N --signal-dir DIR --screenshots DIR [--chromium PATH] [--chromedriver PATH] [--timeout S]
"""
import argparse
import glob
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

COOKIE = "egress25_session"


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def log(message):
    print(message, flush=True)


class Console:
    def __init__(self, args):
        self.args = args
        self.base = args.base.rstrip("/")
        self.timeout = args.timeout
        self.downloads = os.path.join(args.signal_dir, "downloads")
        os.makedirs(self.downloads, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = args.chromium
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
            options.add_argument(argument)
        options.add_experimental_option("prefs", {
            "download.default_directory": self.downloads,
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        })
        self.driver = webdriver.Chrome(service=Service(args.chromedriver), options=options)
        self.driver.set_page_load_timeout(self.timeout)
        self.driver.set_window_size(1280, 900)
        # Headless Chromium saves downloads only where told to.
        self.driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": self.downloads})
        self.shots = []

    def quit(self):
        try:
            self.driver.quit()
        except WebDriverException:
            pass

    # Pages and elements

    def open(self, path):
        self.driver.get(self.base + path)

    def wait(self, what, condition):
        try:
            return WebDriverWait(self.driver, self.timeout, poll_frequency=0.05).until(lambda _: condition())
        except TimeoutException:
            raise Failure(f"{what} (waited {self.timeout} s) on {self.driver.current_url}: "
                          f"{self.text()[:600]!r}")

    def find(self, selector):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector):
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text(self):
        try:
            return self.find("body").text
        except WebDriverException:
            return ""

    def path(self):
        return urllib.parse.urlsplit(self.driver.current_url).path

    def screenshot(self, name):
        number = len(self.shots) + 1
        path = os.path.join(self.args.screenshots, f"{number:02d}-{name}.png")
        check(self.driver.save_screenshot(path), f"screenshot {path} was not saved")
        self.shots.append(path)

    def flashes(self, kind):
        return [element.text for element in self.all(f".flash-{kind}")]

    def submit(self, form_selector):
        self.find(form_selector + " button[type=submit]").click()

    # Session

    def login(self, token, role, home):
        self.driver.delete_all_cookies()
        self.open("/login")
        self.wait("the sign-in form", lambda: self.all("#login-token"))
        check("Sign in" in self.driver.title, f"login page title: {self.driver.title!r}")
        if not self.shots:
            self.screenshot("login")
        self.find("#login-token").send_keys(token)
        self.submit("form[action='/login']")
        self.wait(f"{role}'s home page {home} after signing in", lambda: self.path() == home)
        role_text = self.find(".user-role").text
        check(role_text == role, f"signed in as role {role_text!r}, expected {role!r}")

    def cookie(self):
        cookie = self.driver.get_cookie(COOKIE)
        check(cookie is not None, f"no {COOKIE} cookie after signing in")
        check(cookie.get("httpOnly") is True, f"the session cookie is not HttpOnly: {cookie}")
        return cookie["value"]

    def request(self, method, path, body=None, headers=None):
        """An HTTP request outside the browser, with the browser's session cookie; (status, headers, body)."""
        data = body.encode() if isinstance(body, str) else body
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Cookie", f"{COOKIE}={self.cookie()}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                return response.status, response.headers, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode("utf-8", "replace")

    def nav_links(self):
        return [link.get_attribute("href") for link in self.all("nav.site-nav a")]

    def exception_rows(self):
        return self.all("table.exceptions tbody tr")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def is_stale(element):
    """Whether `element` left the document (the browser has loaded the next page)."""
    try:
        element.tag_name
        return False
    except StaleElementReferenceException:
        return True


def wait_for_file(path, what, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as handle:
                return handle.read().strip()
        time.sleep(0.01)
    raise Failure(f"the test did not write {os.path.basename(path)} ({what}) within {seconds} s")


def write_signal(directory, name, text):
    temporary = os.path.join(directory, f".{name}.tmp")
    with open(temporary, "w") as handle:
        handle.write(text + "\n")
    os.rename(temporary, os.path.join(directory, name))


def support_grants(console, args):
    console.login(args.support_token, "support", "/customers")
    links = console.nav_links()
    check(not any("/abuse/" in link for link in links), f"support's navigation has abuse links: {links}")

    # Search by id, then by address.
    for query, what in ((args.customer, "id"), (args.address, "address")):
        field = console.find("#customer-query")
        field.clear()
        field.send_keys(query)
        page = console.find("html")
        console.submit("form[action='/customers']")
        # Wait for the new page: until then the previous search's rows are still there, and go stale under us.
        console.wait(f"the results page for {query}", lambda: is_stale(page))
        console.wait(f"search results for {query}", lambda: console.all("table.data tbody tr")
                     or console.all("p.empty"))
        rows = console.all("table.data tbody tr")
        ids = [row.find_element(By.CSS_SELECTOR, "td a").text for row in rows]
        check(ids == [args.customer], f"searching by {what} {query!r} found {ids}, expected [{args.customer}]")
        addresses = rows[0].find_element(By.CSS_SELECTOR, "td:nth-child(3)").text
        check(args.address in addresses, f"the result lists addresses {addresses!r}, not {args.address}")
    log(f"search: {args.customer} found by id and by address {args.address}")
    console.screenshot("search")

    # The customer page.
    console.find(f"table.data tbody tr td a[href='/customers/{args.customer}']").click()
    console.wait("the customer page", lambda: console.path() == f"/customers/{args.customer}")
    check(console.find("h1").text.startswith(f"Customer {args.customer}"), f"heading {console.find('h1').text!r}")
    statics = console.find("section[aria-labelledby=static-heading]").text
    check(args.address in statics, f"the static binding {args.address} is not on the page: {statics!r}")
    check(not console.exception_rows(), "the customer already has exceptions")
    console.screenshot("customer")

    # The grant form.
    destinations = console.find("#grant-destinations")
    destinations.clear()
    destinations.send_keys(args.mx)
    Select(console.find("#grant-duration")).select_by_value("1d")
    console.find("#grant-reason").send_keys("telecommuter: employer's mail server (browser test)")
    console.find("#grant-ticket").send_keys("SUP-4711")
    write_signal(args.signal_dir, "ready", "ready")
    go = wait_for_file(os.path.join(args.signal_dir, "go"), "the prober is running", 120)
    check(go == "go", f"the test said {go!r} instead of go")
    console.submit("form.grant")
    # The POST answers with a redirect to the customer page with ?granted=ID; the submit has returned once the
    # browser shows that page.
    console.wait("the page after the grant", lambda: "granted=" in console.driver.current_url)
    returned = time.time()
    granted = urllib.parse.parse_qs(urllib.parse.urlsplit(console.driver.current_url).query)["granted"][0]
    write_signal(args.signal_dir, "granted", f"{returned:.6f} {granted}")
    log(f"grant: {granted} submitted, the page came back at {returned:.3f}")

    success = console.flashes("success")
    check(success == [f"Exception {granted} granted."], f"success messages {success}")
    rows = console.exception_rows()
    check(len(rows) == 1, f"{len(rows)} exception rows after the grant")
    cells = [cell.text for cell in rows[0].find_elements(By.CSS_SELECTOR, "td")]
    check(cells[0] == granted and cells[1].lower() == "active" and cells[2] == f"{args.mx}/32" and cells[4] == "SUP-4711",
          f"the exception row is {cells}")
    console.screenshot("granted")

    verdict = wait_for_file(os.path.join(args.signal_dir, "checked"), "the probe through egress25d", 90)
    check(verdict == "ok", f"the test's probe after the grant: {verdict}")
    return granted


def abuse_investigates(console, args):
    console.login(args.abuse_token, "abuse", "/abuse/top")
    links = console.nav_links()
    check(any(link.endswith("/abuse/top") for link in links) and not any("/customers" in link for link in links),
          f"abuse's navigation: {links}")
    console.wait("the top offenders table", lambda: console.all("table.data tbody tr"))
    table = {}
    for row in console.all("table.data tbody tr"):
        cells = [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "td")]
        table[cells[0]] = cells
    check(args.address in table, f"{args.address} is not among the top offenders: {list(table)}")
    row = table[args.address]
    attempts, syns, fan_out = int(row[1]), int(row[2]), int(row[3])
    check(fan_out == args.fan_out, f"fan-out of {args.address} is {fan_out}, expected {args.fan_out}: {row}")
    check(attempts >= args.fan_out and syns >= attempts, f"attempts/SYNs of {args.address}: {row}")
    log(f"top offenders: {args.address} with {attempts} attempts to {fan_out} destinations")
    console.screenshot("top-offenders")

    csv_link = console.find("a.button[href^='/abuse/export?format=csv']").get_attribute("href")
    console.find(f"table.data tbody td a[href*='source={args.address}']").click()
    console.wait("the timeline page", lambda: console.path() == "/abuse/timeline")
    console.wait("the timeline chart", lambda: console.all("figure.chart-frame svg"))
    source = console.driver.page_source
    check("<svg" in source, "no <svg in the timeline page")
    bars = console.all("svg.chart rect.bar")
    heights = [float(bar.get_attribute("height") or 0) for bar in bars]
    check(bars and max(heights) > 0, f"the chart has {len(bars)} bars, heights {heights[:10]}")
    summary = console.find("dl.summary").text
    check(str(attempts) in summary, f"the timeline summary {summary!r} does not show {attempts} attempts")
    log(f"timeline: {len(bars)} bars, the highest {max(heights):.0f} px")
    console.screenshot("timeline")

    # The CSV export: clicked in the browser (a download), and fetched with the session cookie.
    console.open("/abuse/top")
    console.wait("the top offenders page again", lambda: console.all("a.button[href^='/abuse/export?format=csv']"))
    console.find("a.button[href^='/abuse/export?format=csv']").click()
    deadline = time.time() + console.timeout
    files = []
    while time.time() < deadline:
        files = [name for name in glob.glob(os.path.join(console.downloads, "*.csv"))]
        if files:
            break
        time.sleep(0.05)
    check(files, f"clicking the CSV link downloaded nothing into {console.downloads} "
                 f"({os.listdir(console.downloads)})")
    with open(files[0]) as handle:
        downloaded = handle.read()
    check(downloaded.startswith("first_seen,last_seen,source,"), f"the download is not the CSV: {downloaded[:200]!r}")
    check(f",{args.address}," in downloaded, f"the download has no row of {args.address}")
    status, headers, body = console.request("GET", urllib.parse.urlsplit(csv_link)._replace(
        scheme="", netloc="").geturl())
    check(status == 200, f"GET {csv_link} with the session cookie: {status} {body[:200]!r}")
    check(headers.get("Content-Type", "").startswith("text/csv"), f"export type {headers.get('Content-Type')}")
    check("attachment" in headers.get("Content-Disposition", ""),
          f"export disposition {headers.get('Content-Disposition')}")
    lines = body.splitlines()
    check(lines and lines[0].startswith("first_seen,last_seen,source,destination"), f"CSV header {lines[:1]}")
    rows = [line for line in lines[1:] if f",{args.address}," in line]
    check(len(rows) >= args.fan_out, f"{len(rows)} CSV rows of {args.address}, expected at least {args.fan_out}")
    log(f"export: {os.path.basename(files[0])} downloaded, {len(lines) - 1} CSV rows")


def support_is_refused(console, args, granted):
    console.login(args.support_token, "support", "/customers")
    links = console.nav_links()
    check(links and not any("/abuse/" in link for link in links), f"support's navigation: {links}")
    console.open("/abuse/top")
    console.wait("the error page", lambda: console.all(".error-page"))
    status = console.find(".error-status").text
    check(status == "403", f"support opening /abuse/top got status {status!r}: {console.text()[:300]!r}")
    check(not console.all("table.data"), "the 403 page shows a table")
    check(not any("/abuse/" in link for link in console.nav_links()), "the 403 page's navigation has abuse links")
    code, _, _ = console.request("GET", "/abuse/top")
    check(code == 403, f"GET /abuse/top as support answered {code}")
    log("support: /abuse/top is 403 and the navigation has no abuse links")
    console.screenshot("support-403")

    # CSRF: the grant form posted with the session cookie but without the form's token, or with a wrong one.
    action = f"/customers/{args.customer}/exceptions"
    form = {"destinations": "198.51.100.0/24", "duration": "1d", "reason": "forged", "ticket": "CSRF-1"}
    for name, fields in (("without csrf_token", form), ("with a wrong csrf_token", {**form, "csrf_token": "x" * 43})):
        code, _, body = console.request(
            "POST", action, urllib.parse.urlencode(fields),
            {"Content-Type": "application/x-www-form-urlencoded"})
        check(code == 403, f"POST {action} {name}: {code} {body[:300]!r}")
        check("CSRF" in body, f"the 403 page of the POST {name} does not name the CSRF token: {body[:300]!r}")
    console.open(f"/customers/{args.customer}")
    console.wait("the customer page", lambda: console.all("table.exceptions"))
    ids = [row.find_element(By.CSS_SELECTOR, "td").text for row in console.exception_rows()]
    check(ids == [granted], f"after the forged POSTs the customer has exceptions {ids}")
    log("CSRF: the grant POST without or with a wrong csrf_token got 403; nothing was granted")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--support-token", required=True)
    parser.add_argument("--abuse-token", required=True)
    parser.add_argument("--customer", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--mx", required=True)
    parser.add_argument("--fan-out", type=int, required=True)
    parser.add_argument("--signal-dir", required=True)
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)
    for old in glob.glob(os.path.join(args.screenshots, "*.png")):
        os.remove(old)

    console = None
    try:
        console = Console(args)
        granted = support_grants(console, args)
        abuse_investigates(console, args)
        support_is_refused(console, args, granted)
    except Failure as failure:
        if console is not None:
            try:
                console.screenshot("failure")
            except Exception:
                pass
        print(f"FAIL: {failure}", file=sys.stderr, flush=True)
        return 1
    except Exception as error:
        print(f"FAIL: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        if console is not None:
            console.quit()
            log("screenshots: " + ", ".join(console.shots))
    log("console browser test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
