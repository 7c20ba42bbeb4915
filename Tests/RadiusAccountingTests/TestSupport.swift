import Egress25Core
import RadiusAccounting

/// SplitMix64, as Egress25TestSupport's (that target pulls in KernelRules and the store, too much for a codec).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The octets of a hex string (whitespace ignored).
func hex(_ text: String) -> [UInt8] {
    let digits = text.unicodeScalars.filter { !$0.properties.isWhitespace }.map { Character($0) }
    precondition(digits.count % 2 == 0, "odd number of hex digits")
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

/// Lowercase hex of `bytes`.
func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

let testSecret = Array("s3cr3t-shared".utf8)

func v4(_ text: String) -> IPv4Address { IPv4Address(text)! }
func v6(_ text: String) -> IPv6Address { IPv6Address(text)! }
func prefix(_ text: String) -> IPPrefix { IPPrefix(text)! }

/// A Start from `nas-1` for session `S-1` of subscriber `cust-1` at 100.64.0.1, built with the builder.
func startBuilder(identifier: UInt8 = 1) -> AccountingRequestBuilder {
    var builder = AccountingRequestBuilder(identifier: identifier, statusType: .start)
    builder.addText(type: RadiusAttributeType.acctSessionID, "S-1")
    builder.addText(type: RadiusAttributeType.userName, "cust-1")
    builder.addText(type: RadiusAttributeType.nasIdentifier, "nas-1")
    builder.addIPv4(type: RadiusAttributeType.framedIPAddress, v4("100.64.0.1"))
    return builder
}

/// Decodes `datagram` with the test secret and User-Name as the subscriber attribute.
func decode(
    _ datagram: [UInt8], secret: [UInt8] = testSecret, subscriber: SubscriberAttribute = .userName
) throws(RadiusInvalidReason) -> AccountingRequest {
    try AccountingCodec.decodeRequest(datagram, secret: secret, subscriberAttribute: subscriber)
}

/// The reason `datagram` is discarded, or `nil` when it decodes.
func reason(
    _ datagram: [UInt8], secret: [UInt8] = testSecret, subscriber: SubscriberAttribute = .userName
) -> RadiusInvalidReason? {
    do {
        _ = try decode(datagram, secret: secret, subscriber: subscriber)
        return nil
    } catch {
        return error
    }
}
