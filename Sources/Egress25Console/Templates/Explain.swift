extension ConsoleTemplates {
    /// Explain: `GET /explain?source=&destination=&port=` and the policy's answer.
    static let explain = """
        {{<base}}
        {{$content}}
        {{#page}}
        <h1>Explain a connection</h1>
        <form method="get" action="/explain" class="toolbar">
        <div class="field">
        <label for="explain-source">Source address</label>
        <input id="explain-source" name="source" type="text" required value="{{source}}" autocomplete="off"\
        {{#sourceError}} aria-invalid="true" aria-describedby="explain-source-error"{{/sourceError}}>
        {{#sourceError}}
        <p class="field-error" id="explain-source-error">{{.}}</p>
        {{/sourceError}}
        </div>
        <div class="field">
        <label for="explain-destination">Destination address</label>
        <input id="explain-destination" name="destination" type="text" required value="{{destination}}"\
         autocomplete="off"\
        {{#destinationError}} aria-invalid="true" aria-describedby="explain-destination-error"{{/destinationError}}>
        {{#destinationError}}
        <p class="field-error" id="explain-destination-error">{{.}}</p>
        {{/destinationError}}
        </div>
        <div class="field narrow">
        <label for="explain-port">Port</label>
        <input id="explain-port" name="port" type="number" min="1" max="65535" required value="{{port}}"\
        {{#portError}} aria-invalid="true" aria-describedby="explain-port-error"{{/portError}}>
        {{#portError}}
        <p class="field-error" id="explain-port-error">{{.}}</p>
        {{/portError}}
        </div>
        <button type="submit">Explain</button>
        </form>
        {{#answer}}
        <section class="card answer" aria-labelledby="answer-heading">
        <h2 id="answer-heading">Verdict <span class="badge badge-{{verdict.kind}}">{{verdict.label}}</span></h2>
        <p class="reason">{{reason}}</p>
        <dl class="facts">
        <div><dt>Customer</dt><dd>{{#customer}}<a href="{{href}}">{{id}}</a>{{#name}} ({{.}}){{/name}}{{/customer}}\
        {{^customer}}<span class="muted">none: the source is no customer's address</span>{{/customer}}</dd></div>
        {{#relay}}
        <div><dt>Relay</dt><dd>{{.}}</dd></div>
        {{/relay}}
        {{#exception}}
        <div><dt>Exception</dt><dd>{{id}} <span class="badge badge-{{status.kind}}">{{status.label}}</span></dd></div>
        <div><dt>Destinations</dt><dd class="address">{{destinations}}</dd></div>
        <div><dt>Expires</dt><dd>{{expires}}</dd></div>
        <div><dt>Ticket</dt><dd>{{#ticket}}{{.}}{{/ticket}}{{^ticket}}<span class="muted">none</span>{{/ticket}}</dd></div>
        <div><dt>Granted because</dt><dd>{{reason}}</dd></div>
        {{/exception}}
        {{^exception}}
        <div><dt>Exception</dt><dd><span class="muted">none</span></dd></div>
        {{/exception}}
        </dl>
        </section>
        {{/answer}}
        {{/page}}
        {{/content}}
        {{/base}}
        """
}
