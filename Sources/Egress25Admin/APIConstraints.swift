import Egress25AdminAPI
import HTTPTypes
import Hummingbird

/// The constraints `openapi.yaml` puts on strings (lengths and patterns), which the generated code does not check:
/// a value outside them gets 400 naming the field, as the document promises, instead of being read leniently (a
/// customer filter that cannot match anything answered 200, an over-long search ran). The patterns are the
/// document's, word for word; schemathesis's `negative_data_rejection` check holds the two to each other.
enum APIConstraints {
    /// A constraint: the allowed length (in characters) and, if any, the pattern the whole value must match.
    struct Rule: Sendable {
        var length: ClosedRange<Int>
        var pattern: String?

        /// The document's `CustomerId`.
        static let customerID = Rule(length: 1...64, pattern: #"^[A-Za-z0-9._:@-]{1,64}$"#)
        /// The document's `Address`.
        static let address = Rule(length: 2...45, pattern: #"^[0-9A-Fa-f.:]+$"#)
        /// The document's `AddressOrPrefix`.
        static let addressOrPrefix = Rule(length: 2...49, pattern: #"^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$"#)
        /// The document's `Instant`.
        static let instant = Rule(
            length: 2...64,
            pattern:
                #"^(now|([0-9]{1,9}[smhdw]){1,5}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?)$"#
        )
        /// `ExceptionGrant.duration`.
        static let duration = Rule(length: 0...20, pattern: #"^([0-9]{1,9}[smhdw]){1,5}$"#)
        /// `ExceptionGrant.expires_at`.
        static let expiresAt = Rule(
            length: 10...64,
            pattern:
                #"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?$"#
        )
        /// The `node` filter.
        static let node = Rule(length: 1...100, pattern: nil)
        /// The customer search text.
        static let searchQuery = Rule(length: 1...200, pattern: nil)

        /// A string of `length` characters and no pattern.
        static func text(_ length: ClosedRange<Int>) -> Rule { Rule(length: length, pattern: nil) }
    }

    /// Checks `value` (nothing to check when nil) against `rule`.
    /// - Throws: ``APIProblem`` 400 naming `field`.
    static func check(_ value: String?, _ field: String, _ rule: Rule) throws {
        guard let value else { return }
        // JSON Schema counts characters as code points.
        let count = value.unicodeScalars.count
        guard rule.length.contains(count) else {
            let limit =
                count < rule.length.lowerBound
                ? "at least \(rule.length.lowerBound)" : "at most \(rule.length.upperBound)"
            throw APIProblem.badRequest(
                "\(field) is \(count) characters long; it must be \(limit)", field: field)
        }
        if let pattern = rule.pattern, !matches(value, pattern) {
            throw APIProblem.badRequest("\(field) \"\(value)\" does not match \(pattern)", field: field)
        }
    }

    /// Whether all of `value` matches `pattern` (the patterns are anchored).
    static func matches(_ value: String, _ pattern: String) -> Bool {
        guard let regex = try? Regex(pattern) else { return false }
        return (try? regex.wholeMatch(in: value)) != nil
    }

    /// The filters the block-log operations share.
    static func checkFilters(
        source: String?, customer: String?, destination: String?, since: String?, until: String?, node: String?
    ) throws {
        try check(source, "source", .addressOrPrefix)
        try check(customer, "customer", .customerID)
        try check(destination, "destination", .addressOrPrefix)
        try check(since, "since", .instant)
        try check(until, "until", .instant)
        try check(node, "node", .node)
    }
}

/// 405 with `Allow` for a method an `/api/v1` path does not declare (the router alone answers 404, as if the path
/// did not exist). Registered after the generated handlers, from the routes they added.
enum MethodNotAllowed {
    /// The methods answered with 405 where a path does not declare them: RFC 9110's (but CONNECT), PATCH and QUERY.
    static let methods: [HTTPRequest.Method] = [
        .get, .head, .post, .put, .delete, .patch, .options, .trace, HTTPRequest.Method("QUERY")!,
    ]

    static func register(on router: Router<AdminRequestContext>, under prefix: String) {
        var declared: [String: (path: RouterPath, methods: Set<HTTPRequest.Method>)] = [:]
        for route in router.routes where route.path.description.hasPrefix(prefix) {
            declared[route.path.description, default: (route.path, [])].methods.insert(route.method)
        }
        for (_, entry) in declared {
            let allow = entry.methods.map(\.rawValue).sorted().joined(separator: ", ")
            for method in methods where !entry.methods.contains(method) {
                router.on(entry.path, method: method) { request, _ -> Response in
                    throw APIProblem(
                        .methodNotAllowed, title: "Method not allowed",
                        detail: "\(request.method.rawValue) is not an operation of this path; it has: \(allow)",
                        headers: [.allow: allow])
                }
            }
        }
    }
}
