import Egress25Core
import ExceptionStore
import Testing

@Suite struct SessionLeaseFileTests {
    @Test func parsesLeasesCommentsHeaderAndCRLF() throws {
        let text = "customer,address\r\n# current leases\r\n\r\nc-1001,100.64.1.7\r\n c-2002 ,\t2001:db8:1::/56 \r\n"
        let leases = try SessionLeaseFile.parse(text, file: "leases.csv")
        #expect(
            leases == [
                SessionLease(customer: "c-1001", prefix: prefix("100.64.1.7/32"), origin: "leases.csv:4"),
                SessionLease(customer: "c-2002", prefix: prefix("2001:db8:1::/56"), origin: "leases.csv:5"),
            ])
        #expect(try SessionLeaseFile.parse("", file: "empty.csv").isEmpty)
        // A byte order mark (spreadsheet exports) is not part of the first id.
        #expect(
            try SessionLeaseFile.parse("\u{FEFF}c-1001,100.64.1.7\n", file: "bom.csv").map(\.customer) == ["c-1001"])
    }

    @Test(arguments: [
        ("c-1001,100.64.1.7\nc-2002\n", "f.csv:2: expected 2 fields (customer,address), found 1"),
        ("c-1001,100.64.1.7,extra\n", "f.csv:1: expected 2 fields (customer,address), found 3"),
        ("c-1001,100.64.1.7\n\nc-2002,100.64.1.300\n", "f.csv:3: 100.64.1.300 is not an address or CIDR prefix"),
        ("c-1001,100.64.1.1/24\n", "f.csv:1: 100.64.1.1/24 is not an address or CIDR prefix"),
        (",100.64.1.7\n", "f.csv:1: invalid customer id \"\""),
        ("c 1001,100.64.1.7\n", "f.csv:1: invalid customer id \"c 1001\""),
        ("c-1001,100.64.1.7\ncustomer,address\n", "f.csv:2: address is not an address or CIDR prefix"),
        ("c-1001,100.64.1.7\r\nc-2,x\r\n", "f.csv:2: x is not an address or CIDR prefix"),
    ])
    func namesFileAndLineOfTheFirstError(text: String, message: String) throws {
        let error = #expect(throws: ExceptionStoreError.self) { try SessionLeaseFile.parse(text, file: "f.csv") }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.hasPrefix(message) == true, "\(error?.message ?? "")")
    }
}
