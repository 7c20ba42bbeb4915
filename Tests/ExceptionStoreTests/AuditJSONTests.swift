import Egress25Core
import Testing

@testable import ExceptionStore

/// The session feed writes its audit JSON directly (``AuditJSON``): it must be what JSONEncoder writes.
@Suite struct AuditJSONTests {
    @Test func isWhatTheEncoderWrites() throws {
        let bindings = [
            AddressBinding(
                id: 7, customer: "c-1001", prefix: prefix("100.64.1.7/32"), kind: .session, validFrom: t0,
                validUntil: nil, leaseUntil: t0 + 600, nas: "bng-1.example.net", accountingSessionID: "0A1B-2C/3"),
            AddressBinding(
                id: 8, customer: "c@x:1", prefix: prefix("2001:db8:6400::/56"), kind: .session, validFrom: t0,
                validUntil: t0 + 5, leaseUntil: nil),
            AddressBinding(
                id: 9, customer: "c-2", prefix: prefix("192.0.2.0/29"), kind: .static, validFrom: t0, validUntil: nil),
        ]
        for binding in bindings {
            #expect(AuditJSON.binding(binding, movedTo: nil) == (try ExceptionStore.json(binding)))
            #expect(
                AuditJSON.binding(binding, movedTo: "c-9")
                    == (try ExceptionStore.json(EndedBindingRecord(binding: binding, movedTo: "c-9"))))
        }
        for customer in [
            Customer(id: "c-1", createdAt: t0, autoCreated: true),
            Customer(id: "c-2", name: "Ada L", note: "relay host", createdAt: t0 - 86_400),
        ] {
            #expect(AuditJSON.customer(customer) == (try ExceptionStore.json(customer)))
        }
        // Texts that need escaping are left to the encoder.
        var quoted = bindings[0]
        quoted.accountingSessionID = "a\"b"
        #expect(AuditJSON.binding(quoted, movedTo: nil) == nil)
        quoted.accountingSessionID = "ü"
        #expect(AuditJSON.binding(quoted, movedTo: nil) == nil)
        #expect(AuditJSON.customer(Customer(id: "c-1", note: "a\nb", createdAt: t0)) == nil)
    }
}
