import Egress25Operations
import ExceptionStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import OpenAPIRuntime

/// Turns every error of an `/api/v1` request into an RFC 9457 problem document: ``APIProblem`` as it is,
/// ``OperationError`` by its kind, a request the generated code could not decode (a missing or malformed
/// parameter, a body that is not the schema's) into 400 naming the field, Hummingbird's errors (404, 413) by their
/// status. Anything else is a bug: 500, logged with the error.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext
    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let problem = Self.problem(for: error)
            if problem.status.kind == .serverError && problem.status != .serviceUnavailable {
                logger.error(
                    "request failed",
                    metadata: ["path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            }
            return try problem.response(from: request, context: context)
        }
    }

    static func problem(for error: any Error) -> APIProblem {
        switch error {
        case let problem as APIProblem:
            return problem
        case let operation as OperationError:
            return APIProblem(operation)
        case let store as ExceptionStoreError:
            return APIProblem(OperationError(store))
        case let server as ServerError:
            if server.underlyingError is APIProblem || server.underlyingError is OperationError
                || server.underlyingError is ExceptionStoreError
            {
                return problem(for: server.underlyingError)
            }
            return decodingProblem(server)
        case let http as HTTPError:
            return APIProblem(http.status, detail: http.body ?? http.status.reasonPhrase)
        default:
            return APIProblem(
                .internalServerError, title: "Internal error", detail: "internal error; see the server's log")
        }
    }

    /// A request the generated server could not turn into its input: 400, naming the field when the error says.
    static func decodingProblem(_ error: ServerError) -> APIProblem {
        var field: String?
        var detail = error.causeDescription
        if let decoding = error.underlyingError as? DecodingError {
            let path: [any CodingKey]
            switch decoding {
            case .keyNotFound(let key, let context): path = context.codingPath + [key]
            case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
                path = context.codingPath
            @unknown default: path = []
            }
            let keys = path.map(\.stringValue).filter { !$0.isEmpty && Int($0) == nil }
            if error.request.method == .get {
                // A query parameter (the GET operations take no body).
                let name =
                    keys.first ?? Self.queryParameter(at: decoding, operation: error.operationID, query: error.request)
                    ?? "query"
                field = name
                detail = "query parameter \(name): \(Self.describe(decoding))"
            } else {
                let name = (["body"] + keys).joined(separator: ".")
                field = name
                detail = "the request body does not match the schema at \(name): \(Self.describe(decoding))"
            }
        } else if let name = Self.quotedName(in: "\(error.underlyingError)") {
            field = name
            detail = "\(error.causeDescription): \(name)"
        }
        if detail.contains("Unexpected Accept") || detail.contains("accept") && detail.contains("header") {
            return APIProblem(.notAcceptable, detail: detail)
        }
        if detail.lowercased().contains("content-type") || detail.contains("content type") {
            return APIProblem(.unsupportedMediaType, detail: detail, field: "Content-Type")
        }
        return APIProblem.badRequest(detail, field: field)
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): return "\(key.stringValue) is required"
        case .typeMismatch(let type, _): return "expected \(type)"
        case .valueNotFound(let type, _): return "expected \(type), found null"
        case .dataCorrupted(let context): return context.debugDescription
        @unknown default: return "\(error)"
        }
    }

    /// The first `"name"` in a runtime error's text: the parameter it is about.
    static func quotedName(in text: String) -> String? {
        let parts = text.split(separator: "\"", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return nil }
        let name = String(parts[1])
        return name.isEmpty || name.count > 64 ? nil : name
    }
}

/// Authenticates `/api/v1` requests by their bearer token, except the OpenAPI document: 401 without a valid
/// token, 429 while the client is over its failure limit. The principal is put in the context and in
/// ``Principal/current`` for the generated handlers.
struct APIAuthenticationMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext
    let authenticator: TokenAuthenticator

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix("/api/"), path != "/api/v1/openapi.yaml" else {
            return try await next(request, context)
        }
        let principal = try await authenticator.authenticate(
            token: Self.bearerToken(request.headers[.authorization]), client: context.clientAddress)
        var context = context
        context.principal = principal
        return try await Principal.$current.withValue(principal) {
            try await next(request, context)
        }
    }

    /// The token of `Authorization: Bearer TOKEN` (scheme case-insensitive, RFC 6750), `nil` otherwise.
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

/// Refuses request bodies larger than `admin.max_body` with 413 (declared or actual size), before any handler
/// reads them.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext
    let maximumBytes: Int

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maximumBytes {
            throw APIProblem(.contentTooLarge, detail: "the request body is larger than \(maximumBytes) bytes")
        }
        guard request.method == .post || request.method == .put || request.method == .patch else {
            return try await next(request, context)
        }
        var request = request
        do {
            _ = try await request.collectBody(upTo: maximumBytes)
        } catch {
            throw APIProblem(.contentTooLarge, detail: "the request body is larger than \(maximumBytes) bytes")
        }
        return try await next(request, context)
    }
}

/// Headers every response carries: no sniffing, no framing, no referrer; API answers are never cached.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.referrerPolicy] = "no-referrer"
        if request.uri.path.hasPrefix("/api/"), response.headers[.cacheControl] == nil {
            response.headers[.cacheControl] = "no-store"
        }
        return response
    }
}

extension HTTPField.Name {
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}

extension ProblemMiddleware {
    /// The query parameters each operation requires, and those that must be integers or one of a few words: how
    /// a decoding error that names no key (the runtime's URI decoder names none) is traced to its parameter.
    static let requiredQueryParameters = ["checkFlow": ["source", "destination"], "exportBlocked": ["format"]]
    static let integerQueryParameters = ["port", "limit", "bucket"]
    static let choiceQueryParameters = [
        "by": ["source", "customer", "destination"], "format": ["csv", "json", "xarf"],
    ]

    /// The query parameter a decoding error is about: a required one that is missing, an integer one that is not
    /// an integer, or a choice that is none of its words.
    static func queryParameter(at error: DecodingError, operation: String, query request: HTTPRequest) -> String? {
        let query = request.path.flatMap { path in
            path.firstIndex(of: "?").map { String(path[path.index(after: $0)...]) }
        }
        let items = ConsolePages.fields(query ?? "")
        switch error {
        case .valueNotFound, .keyNotFound:
            return requiredQueryParameters[operation]?.first { (items[$0] ?? "").isEmpty }
        case .typeMismatch:
            return integerQueryParameters.first { name in items[name].map { Int($0) == nil } ?? false }
        case .dataCorrupted:
            return choiceQueryParameters.first { name, words in items[name].map { !words.contains($0) } ?? false }?
                .key ?? integerQueryParameters.first { name in items[name].map { Int($0) == nil } ?? false }
        @unknown default:
            return nil
        }
    }
}
