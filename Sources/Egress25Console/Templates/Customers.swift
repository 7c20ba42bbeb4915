extension ConsoleTemplates {
    /// Customer search: `GET /customers?query=`, results linking to `/customers/{id}`.
    static let customerSearch = """
        {{<base}}
        {{$content}}
        {{#page}}
        <h1>Customers</h1>
        <form method="get" action="/customers" class="toolbar" role="search">
        <div class="field grow">
        <label for="customer-query">Customer id, name or address</label>
        <input id="customer-query" name="query" type="search" value="{{query}}" autofocus>
        </div>
        <button type="submit">Search</button>
        </form>
        {{#hasResults}}
        <div class="table-wrap">
        <table class="data">
        <thead>
        <tr><th scope="col">Customer</th><th scope="col">Name</th><th scope="col">Addresses</th>\
        <th scope="col" class="num">Active exceptions</th><th scope="col">Origin</th></tr>
        </thead>
        <tbody>
        {{#results}}
        <tr>
        <td><a href="{{href}}">{{id}}</a></td>
        <td>{{#name}}{{.}}{{/name}}{{^name}}<span class="muted">none</span>{{/name}}</td>
        <td>{{#addresses}}<span class="address">{{.}}</span> {{/addresses}}</td>
        <td class="num">{{activeExceptions}}</td>
        <td>{{origin}}</td>
        </tr>
        {{/results}}
        </tbody>
        </table>
        </div>
        {{/hasResults}}
        {{#truncationNote}}
        <p class="muted">{{.}}</p>
        {{/truncationNote}}
        {{#noResults}}
        <p class="empty">No customer matches “{{query}}”.</p>
        {{/noResults}}
        {{/page}}
        {{/content}}
        {{/base}}
        """

    /// One customer: header, addresses, exceptions with revoke forms, the grant form.
    static let customer = """
        {{<base}}
        {{$content}}
        {{#page}}
        <p class="breadcrumb"><a href="/customers">Customers</a> / {{id}}</p>
        <h1>Customer {{id}}{{#name}} <span class="subtitle">{{.}}</span>{{/name}}</h1>
        <dl class="facts">
        <div><dt>Name</dt><dd>{{#name}}{{.}}{{/name}}{{^name}}<span class="muted">none</span>{{/name}}</dd></div>
        <div><dt>Note</dt><dd>{{#note}}{{.}}{{/note}}{{^note}}<span class="muted">none</span>{{/note}}</dd></div>
        <div><dt>Added</dt><dd>{{added}}</dd></div>
        <div><dt>Origin</dt><dd>{{origin}}</dd></div>
        </dl>

        <section aria-labelledby="static-heading">
        <h2 id="static-heading">Static addresses</h2>
        {{#hasStaticBindings}}
        <div class="table-wrap">
        <table class="data">
        <thead><tr><th scope="col">Prefix</th><th scope="col">From</th><th scope="col">Until</th></tr></thead>
        <tbody>
        {{#staticBindings}}
        <tr><td class="address">{{prefix}}</td><td>{{from}}</td><td>{{until}}</td></tr>
        {{/staticBindings}}
        </tbody>
        </table>
        </div>
        {{/hasStaticBindings}}
        {{^hasStaticBindings}}
        <p class="empty">No static addresses.</p>
        {{/hasStaticBindings}}
        </section>

        <section aria-labelledby="sessions-heading">
        <h2 id="sessions-heading">Sessions</h2>
        {{#hasSessions}}
        <div class="table-wrap">
        <table class="data">
        <thead><tr><th scope="col">Prefix</th><th scope="col">From</th><th scope="col">Lease until</th></tr></thead>
        <tbody>
        {{#sessions}}
        <tr><td class="address">{{prefix}}</td><td>{{from}}</td><td>{{leaseUntil}}</td></tr>
        {{/sessions}}
        </tbody>
        </table>
        </div>
        {{/hasSessions}}
        {{^hasSessions}}
        <p class="empty">No sessions.</p>
        {{/hasSessions}}
        </section>

        <section aria-labelledby="exceptions-heading">
        <h2 id="exceptions-heading">Exceptions</h2>
        {{#hasExceptions}}
        <div class="table-wrap">
        <table class="data exceptions">
        <thead>
        <tr><th scope="col">Id</th><th scope="col">Status</th><th scope="col">Destinations</th>\
        <th scope="col">Expires</th><th scope="col">Ticket</th><th scope="col">Reason</th>\
        <th scope="col">Granted by</th><th scope="col">Revoke</th></tr>
        </thead>
        <tbody>
        {{#exceptions}}
        <tr>
        <td class="nowrap">{{id}}</td>
        <td><span class="badge badge-{{status.kind}}">{{status.label}}</span></td>
        <td class="address">{{destinations}}</td>
        <td>{{expires}}</td>
        <td>{{#ticket}}{{.}}{{/ticket}}{{^ticket}}<span class="muted">none</span>{{/ticket}}</td>
        <td>{{reason}}</td>
        <td>{{grantedBy}}</td>
        <td>
        {{#active}}
        <form method="post" action="{{revokeAction}}" class="revoke" data-confirm="{{revokeConfirm}}">
        <input type="hidden" name="csrf_token" value="{{layout.csrfToken}}">
        <label class="visually-hidden" for="{{revokeFieldID}}">Reason for revoking {{id}}</label>
        <input id="{{revokeFieldID}}" name="reason" type="text" required placeholder="Reason"\
         value="{{revokeReason}}"{{#revokeError}} aria-invalid="true" aria-describedby="{{revokeFieldID}}-error"\
        {{/revokeError}}>
        <button type="submit" class="danger">Revoke</button>
        {{#revokeError}}
        <p class="field-error" id="{{revokeFieldID}}-error">{{.}}</p>
        {{/revokeError}}
        </form>
        {{/active}}
        </td>
        </tr>
        {{/exceptions}}
        </tbody>
        </table>
        </div>
        {{/hasExceptions}}
        {{^hasExceptions}}
        <p class="empty">No exceptions: port 25 is blocked for this customer except to the relays.</p>
        {{/hasExceptions}}
        </section>

        {{#grant}}
        <section class="card" aria-labelledby="grant-heading">
        <h2 id="grant-heading">Grant an exception</h2>
        <form method="post" action="{{action}}" class="grant">
        <input type="hidden" name="csrf_token" value="{{layout.csrfToken}}">
        <div class="field">
        <label for="grant-destinations">Destinations</label>
        <textarea id="grant-destinations" name="destinations" rows="3" required\
         aria-describedby="grant-destinations-hint{{#destinationsError}} grant-destinations-error{{/destinationsError}}"\
        {{#destinationsError}} aria-invalid="true"{{/destinationsError}}{{#anyDestination}} disabled{{/anyDestination}}>
        {{destinations}}</textarea>
        <p class="hint" id="grant-destinations-hint">Addresses or CIDR prefixes, separated by commas or new lines.</p>
        {{#destinationsError}}
        <p class="field-error" id="grant-destinations-error">{{.}}</p>
        {{/destinationsError}}
        <label class="check"><input type="checkbox" name="any_destination" value="1"\
         data-disables="grant-destinations"{{#anyDestination}} checked{{/anyDestination}}> Any destination</label>
        </div>
        <div class="field-row">
        <div class="field">
        <label for="grant-duration">Duration</label>
        <select id="grant-duration" name="duration"\
        {{#durationError}} aria-invalid="true" aria-describedby="grant-duration-error"{{/durationError}}>
        {{#durations}}
        <option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>
        {{/durations}}
        </select>
        {{#durationError}}
        <p class="field-error" id="grant-duration-error">{{.}}</p>
        {{/durationError}}
        </div>
        <div class="field">
        <label for="grant-expires-at">Or until (UTC date)</label>
        <input id="grant-expires-at" name="expires_at" type="date" value="{{expiresAt}}"\
        {{#expiresAtError}} aria-invalid="true" aria-describedby="grant-expires-at-error"{{/expiresAtError}}>
        {{#expiresAtError}}
        <p class="field-error" id="grant-expires-at-error">{{.}}</p>
        {{/expiresAtError}}
        </div>
        </div>
        <div class="field">
        <label for="grant-reason">Reason</label>
        <input id="grant-reason" name="reason" type="text" required value="{{reason}}"\
        {{#reasonError}} aria-invalid="true" aria-describedby="grant-reason-error"{{/reasonError}}>
        {{#reasonError}}
        <p class="field-error" id="grant-reason-error">{{.}}</p>
        {{/reasonError}}
        </div>
        <div class="field">
        <label for="grant-ticket">Ticket <span class="muted">(optional)</span></label>
        <input id="grant-ticket" name="ticket" type="text" value="{{ticket}}"\
        {{#ticketError}} aria-invalid="true" aria-describedby="grant-ticket-error"{{/ticketError}}>
        {{#ticketError}}
        <p class="field-error" id="grant-ticket-error">{{.}}</p>
        {{/ticketError}}
        </div>
        <button type="submit">Grant exception</button>
        </form>
        </section>
        {{/grant}}
        {{/page}}
        {{/content}}
        {{/base}}
        """
}
