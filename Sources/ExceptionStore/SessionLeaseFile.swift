import Egress25Core

/// The bulk lease file of `egress25ctl session import FILE`: UTF-8 text, one current lease per line.
///
/// ```
/// # customer,address[/prefix]       (comments and blank lines are ignored)
/// customer,address                  (an optional header line)
/// c-1001,100.64.1.7
/// c-2002,2001:db8:1::/56
/// ```
/// Fields are separated by one comma and trimmed of blanks; lines end with LF or CRLF.
public enum SessionLeaseFile {
    /// Parses the whole file; every lease's `origin` is `FILE:LINE`.
    /// - Parameters:
    ///   - text: The file contents.
    ///   - file: The name to use in `origin` and errors.
    /// - Throws: ``ExceptionStoreError`` `invalidArgument`, message `FILE:LINE: reason` (wrong number of fields,
    ///   an empty or invalid customer id, a malformed address or prefix).
    public static func parse(_ text: String, file: String) throws(ExceptionStoreError) -> [SessionLease] {
        var leases: [SessionLease] = []
        var lineNumber = 0
        // A UTF-8 byte order mark (spreadsheet exports write one) is not part of the first customer id.
        let text = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        // "\r\n" is one Character in Swift, and a newline: CRLF files count lines like LF files.
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            let trimmed = line.trimmingBlanks()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let origin = "\(file):\(lineNumber)"
            let fields = trimmed.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingBlanks() }
            guard fields.count == 2 else {
                throw ExceptionStoreError(
                    .invalidArgument,
                    "\(origin): expected 2 fields (customer,address), "
                        + "found \(fields.count)")
            }
            if leases.isEmpty && fields[0].lowercased() == "customer" && fields[1].lowercased() == "address" {
                continue  // the header
            }
            do {
                try ExceptionStore.validateCustomerID(String(fields[0]))
            } catch {
                throw ExceptionStoreError(.invalidArgument, "\(origin): \(error.message)")
            }
            let prefix: IPPrefix
            do {
                prefix = try IPPrefix(parsing: String(fields[1]))
            } catch {
                throw ExceptionStoreError(
                    .invalidArgument,
                    "\(origin): \(fields[1]) is not an address or CIDR "
                        + "prefix: \(error.reason)")
            }
            leases.append(SessionLease(customer: String(fields[0]), prefix: prefix, origin: origin))
        }
        return leases
    }
}

extension Substring {
    func trimmingBlanks() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
