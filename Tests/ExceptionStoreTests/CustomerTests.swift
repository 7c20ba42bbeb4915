import Egress25Core
import ExceptionStore
import Foundation
import Testing

/// Customers and static bindings.
@Suite struct CustomerTests {
    @Test(arguments: TestBackend.available) func addShowList(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        let added = try store.addCustomer(
            id: "c-1001", name: "Ada Lovelace", note: "home office", actor: "alice", now: t0)
        try store.addCustomer(id: "a-7", actor: "alice", now: t0 + 1)
        #expect(added == Customer(id: "c-1001", name: "Ada Lovelace", note: "home office", createdAt: t0))
        #expect(try store.customer(id: "c-1001") == added)
        #expect(try store.customer(id: "c-9") == nil)
        #expect(try store.customers().map(\.id) == ["a-7", "c-1001"])

        let audit = try store.auditEntries()
        #expect(audit.count == 2)
        #expect(audit[0].action == "customer.add")
        #expect(audit[0].actor == "alice")
        #expect(audit[0].at == t0)
        #expect(audit[0].customer == "c-1001")
        #expect(audit[0].objectID == "c-1001")
        #expect(audit[0].before == nil)
        let after = try #require(audit[0].after)
        let json = try JSONSerialization.jsonObject(with: Data(after.utf8)) as? [String: Any]
        #expect(json?["name"] as? String == "Ada Lovelace")
        #expect(json?["created_at"] as? String == "2026-11-29T08:00:00Z")
        #expect(try store.changeToken() == 2)
    }

    @Test(arguments: TestBackend.available) func badCustomerInputWritesNothing(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        try store.addCustomer(id: "c-1001", actor: "alice", now: t0)
        let duplicate = try expectNothingWritten(store, code: .duplicateCustomer, messageContains: "c-1001") {
            try store.addCustomer(id: "c-1001", name: "again", actor: "alice", now: t0)
        }
        #expect(duplicate?.operation == "addCustomer(id:name:note:actor:now:)")
        for id in ["", "c 1001", "c-1001;drop", String(repeating: "x", count: 65), "kü-1"] {
            try expectNothingWritten(store, code: .invalidArgument, messageContains: "invalid customer id") {
                try store.addCustomer(id: id, actor: "alice", now: t0)
            }
        }
        try expectNothingWritten(store, code: .invalidArgument, messageContains: "control characters") {
            try store.addCustomer(id: "c-2", note: "line\nbreak", actor: "alice", now: t0)
        }
        try expectNothingWritten(store, code: .invalidArgument, messageContains: "actor") {
            try store.addCustomer(id: "c-2", actor: " ", now: t0)
        }
    }

    @Test(arguments: TestBackend.available) func bindAndUnbindStatically(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        try store.addCustomer(id: "c-1001", actor: "alice", now: t0)
        let bound = try store.bind(customer: "c-1001", prefix: prefix("192.0.2.8/29"), actor: "alice", now: t0 + 10)
        #expect(bound.kind == .static)
        #expect(bound.prefix == prefix("192.0.2.8/29"))
        #expect(bound.validFrom == t0 + 10)
        #expect(bound.validUntil == nil)
        // Idempotent.
        let again = try store.bind(customer: "c-1001", prefix: prefix("192.0.2.8/29"), actor: "alice", now: t0 + 20)
        #expect(again == bound)
        #expect(try store.bindings(customer: "c-1001").count == 1)

        // IPv4-mapped IPv6 is stored as IPv4.
        let mapped = try store.bind(customer: "c-1001", prefix: prefix("::ffff:198.51.100.7"), actor: "a", now: t0 + 30)
        #expect(mapped.prefix == prefix("198.51.100.7/32"))

        let ended = try store.unbind(customer: "c-1001", prefix: prefix("192.0.2.8/29"), actor: "bob", now: t0 + 40)
        #expect(ended.validUntil == t0 + 40)
        #expect(try store.bindings(customer: "c-1001", inForceAt: t0 + 40).map(\.prefix) == [prefix("198.51.100.7/32")])
        #expect(try store.bindings(customer: "c-1001", inForceAt: t0 + 39).count == 2)
        #expect(try store.bindings(customer: "c-1001").count == 2)  // history kept

        let audit = try store.auditEntries(customer: "c-1001")
        #expect(audit.map(\.action) == ["customer.add", "binding.add", "binding.add", "binding.end"])
        #expect(audit[3].objectID == "binding-\(bound.id)")
        #expect(audit[3].actor == "bob")
        #expect(audit[3].before?.contains("\"valid_until\":null") == true)
        #expect(audit[3].after?.contains("\"valid_until\":\"2026-11-29T08:00:40Z\"") == true)
    }

    @Test(arguments: TestBackend.available) func badBindingInputWritesNothing(backend: TestBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.open()
        try store.addCustomer(id: "c-1001", actor: "alice", now: t0)
        try store.addCustomer(id: "c-2002", actor: "alice", now: t0)
        try store.bind(customer: "c-1001", prefix: prefix("192.0.2.0/28"), actor: "alice", now: t0)
        try store.startSession(customer: "c-2002", prefix: prefix("2001:db8:1::/56"), actor: "radius", now: t0)

        let unknown = try expectNothingWritten(store, code: .unknownCustomer, messageContains: "unknown customer c-9") {
            try store.bind(customer: "c-9", prefix: prefix("198.51.100.1"), actor: "alice", now: t0)
        }
        #expect(unknown?.operation == "bind(customer:prefix:actor:now:plan:)", "the store method, not its helper")
        // Overlaps another customer's static binding (inside it, and around it).
        try expectNothingWritten(store, code: .conflict, messageContains: "c-1001") {
            try store.bind(customer: "c-2002", prefix: prefix("192.0.2.5"), actor: "alice", now: t0)
        }
        try expectNothingWritten(store, code: .conflict, messageContains: "c-1001") {
            try store.bind(customer: "c-2002", prefix: prefix("192.0.0.0/16"), actor: "alice", now: t0)
        }
        // Overlaps another customer's session.
        try expectNothingWritten(store, code: .conflict, messageContains: "c-2002") {
            try store.bind(customer: "c-1001", prefix: prefix("2001:db8:1:2::/64"), actor: "alice", now: t0)
        }
        try expectNothingWritten(store, code: .unknownBinding, messageContains: "no static binding on 192.0.2.0/29") {
            try store.unbind(customer: "c-1001", prefix: prefix("192.0.2.0/29"), actor: "alice", now: t0)
        }
        // A session is not unbound by `unbind`.
        try expectNothingWritten(store, code: .unknownBinding) {
            try store.unbind(customer: "c-2002", prefix: prefix("2001:db8:1::/56"), actor: "alice", now: t0)
        }
        try expectNothingWritten(store, code: .unknownCustomer) {
            _ = try store.bindings(customer: "c-9")
        }
    }
}
