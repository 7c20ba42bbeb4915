extension ConsoleTemplates {
    /// Nodes: `GET /ops/nodes`, router health and verdict rates.
    static let nodes = """
        {{<base}}
        {{$content}}
        {{#page}}
        <h1>Nodes</h1>
        {{#hasNodes}}
        <div class="table-wrap">
        <table class="data">
        <thead>
        <tr><th scope="col">Node</th><th scope="col">Health</th><th scope="col">Last heartbeat</th>\
        <th scope="col" class="num">Policy generation</th><th scope="col" class="num">Policy lag</th>\
        <th scope="col" class="num">Shipping lag</th><th scope="col">Detail</th></tr>
        </thead>
        <tbody>
        {{#nodes}}
        <tr>
        <td class="nowrap">{{name}}</td>
        <td><span class="badge badge-{{health.kind}}">{{health.label}}</span></td>
        <td>{{lastHeartbeat}}</td>
        <td class="num">{{policyGeneration}}</td>
        <td class="num">{{lag}}</td>
        <td class="num">{{shippingLag}}</td>
        <td>{{#detail}}{{.}}{{/detail}}</td>
        </tr>
        {{/nodes}}
        </tbody>
        </table>
        </div>
        {{/hasNodes}}
        {{^hasNodes}}
        <p class="empty">No node has sent a heartbeat.</p>
        {{/hasNodes}}
        <section aria-labelledby="rates-heading">
        <h2 id="rates-heading">Verdict rates</h2>
        {{#hasRates}}
        <table class="data compact">
        <thead>
        <tr><th scope="col">Node</th><th scope="col" class="num">Accepted/s</th>\
        <th scope="col" class="num">Blocked/s</th></tr>
        </thead>
        <tbody>
        {{#rates}}
        <tr><td>{{node}}</td><td class="num">{{acceptedPerSecond}}</td><td class="num">{{blockedPerSecond}}</td></tr>
        {{/rates}}
        </tbody>
        </table>
        {{/hasRates}}
        {{^hasRates}}
        <p class="empty">No rates available.</p>
        {{/hasRates}}
        {{#ratesNote}}
        <p class="muted">{{.}}</p>
        {{/ratesNote}}
        </section>
        {{/page}}
        {{/content}}
        {{/base}}
        """
}
