import BlockLog
import Egress25Admin
import Egress25Core
import Egress25TestSupport
import ExceptionStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// egress25-admin on the fleet's PostgreSQL store: grants audited under the token, the routers' nodes, and the
/// fleet's block log (top offenders with fan-out, suspects, exports). Skipped without `EGRESS25_TEST_PG_URL`.
@Suite(.enabled(if: TestPostgres.isAvailable, "EGRESS25_TEST_PG_URL is not set: no PostgreSQL for the fleet tests"))
struct AdminFleetTests {
    @Test func theAPIWorksOnTheFleetStore() async throws {
        let fixture = try AdminFixture(postgres: true)
        defer { fixture.cleanup() }
        let now = UTCTime.now()
        // Ahead of the clock, so a starved test run cannot age it past the 15 s threshold before the request.
        try fixture.store.recordNodeHeartbeat(
            NodeHeartbeat(node: "edge-fra-1", at: now + 600, policyGeneration: 17, policyDataAt: now - 3))
        try fixture.store.recordNodeHeartbeat(
            NodeHeartbeat(node: "edge-ber-2", at: now - 600, policyGeneration: 9, policyDataAt: now - 601))
        // One infected subscriber fans out to 25 mail servers in a minute: top offender and suspect.
        let minute = (now - 120) / 60 * 60 * 1000
        var rows: [ShippableRow] = []
        for index in 0..<25 {
            let record = BlockedRecord(
                firstSeenMilliseconds: minute + Int64(index) * 1000, lastSeenMilliseconds: minute + Int64(index) * 1000,
                source: try IPAddress(parsing: AdminFixture.subscriber),
                destination: try IPAddress(parsing: "198.51.100.\(index + 1)"), destinationPort: 25, attempts: 2,
                syns: 2, customer: "c-1001", reason: .noException, exceptionID: nil, nodeName: "edge-fra-1")
            rows.append(
                ShippableRow(
                    mark: ShippingMark(firstSeenMilliseconds: record.firstSeenMilliseconds, id: Int64(index + 1)),
                    record: record))
        }
        let store = fixture.store
        let sliceStart = minute / 1000 / 3600 * 3600
        try await Task.detached {
            _ = try store.shipBlockedRows(node: "edge-fra-1", sliceStart: sliceStart, rows: rows, after: .start)
        }.value

        try await fixture.withClient { client in
            let nodes = try await client.call(.get, "/api/v1/nodes", token: fixture.tokens["ops"])
            #expect(nodes.status == .ok, "\(nodes.text)")
            let list = try #require(nodes.object["nodes"] as? [[String: Any]])
            #expect(list.map { $0["name"] as? String } == ["edge-ber-2", "edge-fra-1"])
            #expect(list.map { $0["healthy"] as? Bool } == [false, true])
            #expect(list.last?["policy_generation"] as? Int == 17)

            let top = try await client.call(
                .get, "/api/v1/blocked/top?by=source&since=1h", token: fixture.tokens["abuse"])
            #expect(top.status == .ok, "\(top.text)")
            let entry = try #require((top.object["entries"] as? [[String: Any]])?.first)
            #expect(entry["key"] as? String == AdminFixture.subscriber)
            #expect(entry["destinations"] as? Int == 25)
            #expect(entry["attempts"] as? Int == 50)

            let suspects = try await client.call(.get, "/api/v1/suspects?since=1h", token: fixture.tokens["abuse"])
            #expect(suspects.status == .ok, "\(suspects.text)")
            let suspect = try #require((suspects.object["suspects"] as? [[String: Any]])?.first)
            #expect(suspect["source"] as? String == AdminFixture.subscriber)
            #expect((suspect["reasons"] as? [String])?.contains("distinct_destinations") == true)

            let csv = try await client.call(
                .get, "/api/v1/blocked/export?format=csv&since=1h", token: fixture.tokens["abuse"])
            #expect(csv.status == .ok)
            #expect(csv.text.split(separator: "\n").count == 26)

            let granted = try await client.call(
                .post, "/api/v1/customers/c-2002/exceptions", token: fixture.tokens["support"],
                json: #"{"destinations":["203.0.113.0/24"],"expires_at":"2099-01-01","reason":"fleet","ticket":"F-1"}"#)
            #expect(granted.status == .created, "\(granted.text)")
            let detail = try await client.call(.get, "/api/v1/customers/c-2002", token: fixture.tokens["support"])
            let exceptions = try #require(detail.object["exceptions"] as? [[String: Any]])
            #expect(exceptions.contains { $0["ticket"] as? String == "F-1" && $0["status"] as? String == "active" })
        }
        let audit = try #require(try fixture.store.auditEntries(customer: "c-2002").last)
        #expect(audit.action == "exception.grant" && audit.actor == "support-user" && audit.role == "support")
    }
}
