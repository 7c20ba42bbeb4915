import Hummingbird

/// The web console's routes (placeholder until the views land).
enum Console {
    static func register(on router: Router<AdminRequestContext>, state: AdminState) {}
}
