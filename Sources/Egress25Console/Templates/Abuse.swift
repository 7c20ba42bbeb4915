extension ConsoleTemplates {
    /// Top offenders: `GET /abuse/top?by=&since=`, with export links.
    static let topOffenders = """
        {{<base}}
        {{$content}}
        {{#page}}
        <h1>Top offenders</h1>
        <div class="toolbar">
        <form method="get" action="/abuse/top" class="toolbar">
        <div class="field">
        <label for="top-by">Group by</label>
        <select id="top-by" name="by">
        {{#groupings}}
        <option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>
        {{/groupings}}
        </select>
        </div>
        <div class="field">
        <label for="top-since">Period</label>
        <select id="top-since" name="since">
        {{#periods}}
        <option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>
        {{/periods}}
        </select>
        </div>
        <button type="submit">Show</button>
        </form>
        <p class="exports">Export this period:
        <a class="button secondary" href="{{csvHref}}" download>CSV</a>
        <a class="button secondary" href="{{xarfHref}}" download>X-ARF</a>
        </p>
        </div>
        {{#hasRows}}
        <div class="table-wrap">
        <table class="data">
        <thead>
        <tr><th scope="col">{{keyHeading}}</th><th scope="col" class="num">Attempts</th>\
        <th scope="col" class="num">SYNs</th><th scope="col" class="num">Distinct destinations</th>\
        <th scope="col">First seen</th><th scope="col">Last seen</th></tr>
        </thead>
        <tbody>
        {{#rows}}
        <tr>
        <td class="address"><a href="{{href}}">{{key}}</a></td>
        <td class="num">{{attempts}}</td>
        <td class="num">{{syns}}</td>
        <td class="num">{{distinctDestinations}}</td>
        <td>{{firstSeen}}</td>
        <td>{{lastSeen}}</td>
        </tr>
        {{/rows}}
        </tbody>
        </table>
        </div>
        {{/hasRows}}
        {{^hasRows}}
        <p class="empty">No blocked attempts in this period.</p>
        {{/hasRows}}
        {{/page}}
        {{/content}}
        {{/base}}
        """

    /// Suspects: `GET /abuse/suspects`, the thresholds and the suspect sources.
    static let suspects = """
        {{<base}}
        {{$content}}
        {{#page}}
        <h1>Suspects</h1>
        {{#hasThresholds}}
        <section class="card" aria-labelledby="thresholds-heading">
        <h2 id="thresholds-heading">Thresholds</h2>
        <dl class="facts">
        {{#thresholds}}
        <div><dt>{{name}}</dt><dd>{{value}}</dd></div>
        {{/thresholds}}
        </dl>
        </section>
        {{/hasThresholds}}
        {{#hasRows}}
        <div class="table-wrap">
        <table class="data">
        <thead>
        <tr><th scope="col">Source</th><th scope="col">Customer</th><th scope="col">Window</th>\
        <th scope="col" class="num">Attempts</th><th scope="col" class="num">Distinct destinations</th>\
        <th scope="col" class="num">SYNs/min</th><th scope="col">Reasons</th><th scope="col">Top destinations</th></tr>
        </thead>
        <tbody>
        {{#rows}}
        <tr>
        <td class="address">{{#source}}<a href="{{href}}">{{text}}</a>{{/source}}</td>
        <td>{{#customer}}<a href="{{href}}">{{text}}</a>{{/customer}}\
        {{^customer}}<span class="muted">none</span>{{/customer}}</td>
        <td>{{window}}</td>
        <td class="num">{{attempts}}</td>
        <td class="num">{{distinctDestinations}}</td>
        <td class="num">{{synsPerMinute}}</td>
        <td>{{#reasons}}<span class="badge badge-reason">{{.}}</span> {{/reasons}}</td>
        <td class="address">{{#topDestinations}}<span class="address">{{.}}</span> {{/topDestinations}}</td>
        </tr>
        {{/rows}}
        </tbody>
        </table>
        </div>
        {{/hasRows}}
        {{^hasRows}}
        <p class="empty">No suspects right now.</p>
        {{/hasRows}}
        {{/page}}
        {{/content}}
        {{/base}}
        """

    /// Timeline: `GET /abuse/timeline?source=|customer=&since=`, summary numbers and the chart.
    static let timeline = """
        {{<base}}
        {{$content}}
        {{#page}}
        <h1>Timeline</h1>
        <form method="get" action="/abuse/timeline" class="toolbar">
        <div class="field">
        <label for="timeline-source">Source address</label>
        <input id="timeline-source" name="source" type="text" value="{{source}}" autocomplete="off">
        </div>
        <div class="field">
        <label for="timeline-customer">or customer id</label>
        <input id="timeline-customer" name="customer" type="text" value="{{customer}}" autocomplete="off">
        </div>
        <div class="field">
        <label for="timeline-since">Period</label>
        <select id="timeline-since" name="since">
        {{#periods}}
        <option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>
        {{/periods}}
        </select>
        </div>
        <button type="submit">Show</button>
        </form>
        {{#formError}}
        <p class="field-error" role="alert">{{.}}</p>
        {{/formError}}
        {{#result}}
        <dl class="summary">
        <div><dt>Attempts</dt><dd>{{attempts}}</dd></div>
        <div><dt>SYNs</dt><dd>{{syns}}</dd></div>
        <div><dt>Distinct destinations</dt><dd>{{distinctDestinations}}</dd></div>
        {{#firstSeen}}
        <div><dt>First seen</dt><dd>{{.}}</dd></div>
        {{/firstSeen}}
        {{#lastSeen}}
        <div><dt>Last seen</dt><dd>{{.}}</dd></div>
        {{/lastSeen}}
        </dl>
        <figure class="chart-frame">
        {{{chart}}}
        </figure>
        {{/result}}
        {{/page}}
        {{/content}}
        {{/base}}
        """
}
