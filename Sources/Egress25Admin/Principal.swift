import ExceptionStore

/// Who a request was authenticated as: a token's name and role. The name is the audit log's actor for every
/// change the request makes; a client cannot choose it.
public struct Principal: Hashable, Sendable {
    /// The token's name.
    public var name: String
    /// The token's role.
    public var role: APIRole
    /// When the token expires, UTC seconds; `nil` for never.
    public var expiresAt: Int64?

    /// Creates a principal.
    public init(name: String, role: APIRole, expiresAt: Int64?) {
        self.name = name
        self.role = role
        self.expiresAt = expiresAt
    }

    /// The principal of the request being handled (set by the authentication middleware around the API's
    /// handlers, which get no request context of their own).
    @TaskLocal public static var current: Principal?

    /// Whether this principal's role may do what `roles` allow; `admin` may do everything.
    public func may(_ roles: Set<APIRole>) -> Bool {
        role == .admin || roles.contains(role)
    }

    /// The identity recorded in the audit entries of this principal's changes: the server's operating-system
    /// user and the token's role.
    public func auditIdentity() -> OperatingSystemIdentity {
        var identity = OperatingSystemIdentity.current()
        identity.sudoUser = nil
        identity.role = role.rawValue
        return identity
    }
}

/// Who may call what: the roles of the matrix (``Principal/may(_:)`` adds `admin` everywhere).
public enum Permission {
    /// Explain a verdict (`check`).
    public static let explain: Set<APIRole> = [.support, .abuse, .ops]
    /// Customers and exceptions: search, add, grant, revoke.
    public static let customers: Set<APIRole> = [.support]
    /// Read one exception.
    public static let readException: Set<APIRole> = [.support, .abuse]
    /// The audit log.
    public static let audit: Set<APIRole> = [.support, .abuse]
    /// The block log, top offenders, timelines, exports and suspects.
    public static let abuseDesk: Set<APIRole> = [.abuse]
    /// The routers (nodes).
    public static let operations: Set<APIRole> = [.ops]
    /// Anyone authenticated.
    public static let anyone: Set<APIRole> = Set(APIRole.allCases)
}
