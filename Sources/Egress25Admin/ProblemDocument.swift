import Egress25Operations
import Foundation
import HTTPTypes
import Hummingbird

/// An RFC 9457 problem document (`application/problem+json`), with `field` naming the request field that was
/// wrong. Every error egress25-admin's API answers with is one of these; a 5xx means a bug or an unreachable
/// store, never bad input.
public struct APIProblem: Error, HTTPResponseError, Sendable, Hashable {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// A short summary of the problem type (RFC 9457 `title`).
    public var title: String
    /// This occurrence, in one line (RFC 9457 `detail`).
    public var detail: String
    /// The request field at fault (`source`, `body.duration`), if any.
    public var field: String?
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`).
    public var headers: HTTPFields

    /// Creates a problem.
    public init(
        _ status: HTTPResponse.Status, title: String? = nil, detail: String, field: String? = nil,
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.title = title ?? status.reasonPhrase
        self.detail = detail
        self.field = field
        self.headers = headers
    }

    /// 400 naming `field`.
    public static func badRequest(_ detail: String, field: String?) -> APIProblem {
        APIProblem(.badRequest, title: "Invalid request", detail: detail, field: field)
    }

    /// 401 with `WWW-Authenticate: Bearer`.
    public static func unauthorized(_ detail: String) -> APIProblem {
        APIProblem(
            .unauthorized, title: "Authentication required", detail: detail,
            headers: [.wwwAuthenticate: "Bearer realm=\"egress25-admin\""])
    }

    /// 403.
    public static func forbidden(_ detail: String) -> APIProblem {
        APIProblem(.forbidden, title: "Not allowed for this role", detail: detail)
    }

    /// An ``OperationError`` as HTTP: invalid input 400 (naming the field), not found 404, conflict 409,
    /// unavailable 503 (with `Retry-After: 5`), failed 422.
    public init(_ error: OperationError, fieldPrefix: String = "") {
        switch error.kind {
        case .invalidInput(let field):
            self = .badRequest(error.message, field: fieldPrefix + field)
        case .notFound:
            self.init(.notFound, title: "Not found", detail: error.message)
        case .conflict:
            self.init(.conflict, title: "Conflict", detail: error.message)
        case .unavailable:
            self.init(
                .serviceUnavailable, title: "Store unavailable", detail: error.message, headers: [.retryAfter: "5"])
        case .failed:
            self.init(.unprocessableContent, title: "Cannot be done here", detail: error.message)
        }
    }

    /// The problem document as JSON.
    public var json: String {
        var object: [String: Any] = [
            "type": "about:blank", "title": title, "status": Int(status.code), "detail": detail,
        ]
        if let field { object["field"] = field }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// The response: `application/problem+json`, never cached.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json)))
    }
}
