/// Text parsing shared by `IPv4Address`, `IPv6Address` and `IPPrefix`. Works on UTF-8 bytes, no Foundation.
enum AddressTextParser {
    struct Failure: Error {
        var text: String
        init(_ text: String) { self.text = text }
    }

    static func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F {
            return "'\(Character(Unicode.Scalar(byte)))'"
        }
        if byte == 0x20 { return "space" }
        return "byte 0x\(String(byte, radix: 16))"
    }

    static func slice(_ bytes: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[from..<to]), as: UTF8.self)
    }

    /// Dotted decimal in `bytes[from..<to]`; positions in reasons are 1-based within the whole buffer.
    static func parseIPv4(_ bytes: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Result<UInt32, Failure> {
        if from == to { return .failure(Failure("empty address")) }
        var value: UInt32 = 0
        var octetIndex = 0
        var index = from
        while true {
            let start = index
            var octet: UInt32 = 0
            while index < to, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                if index - start < 4 { octet = octet * 10 + UInt32(bytes[index] - 0x30) }
                index += 1
            }
            let digits = index - start
            if digits == 0 {
                if index < to && bytes[index] != UInt8(ascii: ".") {
                    return .failure(Failure("unexpected character \(describe(bytes[index])) at position \(index + 1)"))
                }
                return .failure(Failure("octet \(octetIndex + 1) is empty"))
            }
            if octetIndex == 4 {
                return .failure(Failure("more than 4 octets"))
            }
            let text = slice(bytes, start, index)
            if digits > 1 && bytes[start] == 0x30 {
                return .failure(Failure("octet \(octetIndex + 1) \"\(text)\" has a leading zero"))
            }
            if digits > 3 || octet > 255 {
                return .failure(Failure("octet \(octetIndex + 1) \"\(text)\" is greater than 255"))
            }
            value = value << 8 | octet
            octetIndex += 1
            if index == to { break }
            if bytes[index] != UInt8(ascii: ".") {
                return .failure(Failure("unexpected character \(describe(bytes[index])) at position \(index + 1)"))
            }
            index += 1
            if index == to {
                return .failure(Failure("octet \(octetIndex + 1) is empty"))
            }
        }
        if octetIndex != 4 {
            return .failure(Failure("expected 4 octets, found \(octetIndex)"))
        }
        return .success(value)
    }

    static func hexValue(_ byte: UInt8) -> UInt16? {
        switch byte {
        case 0x30...0x39: return UInt16(byte - 0x30)
        case 0x61...0x66: return UInt16(byte - 0x61 + 10)
        case 0x41...0x46: return UInt16(byte - 0x41 + 10)
        default: return nil
        }
    }

    /// RFC 4291 section 2.2 text forms.
    static func parseIPv6(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<(high: UInt64, low: UInt64), Failure> {
        let count = bytes.count
        if count == 0 { return .failure(Failure("empty address")) }
        if let percent = bytes.firstIndex(of: UInt8(ascii: "%")) {
            return .failure(Failure("zone identifier \"\(slice(bytes, percent, count))\" is not supported"))
        }
        var groups: [UInt16] = []
        groups.reserveCapacity(8)
        var compressAt = -1
        var index = 0
        if bytes[0] == UInt8(ascii: ":") {
            guard count > 1, bytes[1] == UInt8(ascii: ":") else {
                return .failure(Failure("address starts with a single ':'"))
            }
            compressAt = 0
            index = 2
        }
        while index < count {
            let start = index
            var value: UInt16 = 0
            while index < count, let digit = hexValue(bytes[index]) {
                if index - start < 4 { value = value << 4 | digit }
                index += 1
            }
            if index < count && bytes[index] == UInt8(ascii: ".") {
                switch parseIPv4(bytes, from: start, to: count) {
                case .failure(let failure):
                    return .failure(Failure("embedded IPv4 part \"\(slice(bytes, start, count))\": \(failure.text)"))
                case .success(let v4):
                    groups.append(UInt16(truncatingIfNeeded: v4 >> 16))
                    groups.append(UInt16(truncatingIfNeeded: v4))
                }
                index = count
                if groups.count > 8 {
                    return .failure(Failure("too many groups (\(groups.count), at most 8)"))
                }
                break
            }
            let digits = index - start
            if digits == 0 {
                if bytes[index] == UInt8(ascii: ":") {
                    return .failure(Failure("empty group at position \(index + 1)"))
                }
                return .failure(Failure("unexpected character \(describe(bytes[index])) at position \(index + 1)"))
            }
            if digits > 4 {
                return .failure(Failure("group \"\(slice(bytes, start, index))\" has more than 4 hex digits"))
            }
            groups.append(value)
            if groups.count > 8 {
                return .failure(Failure("too many groups (more than 8)"))
            }
            if index == count { break }
            if bytes[index] != UInt8(ascii: ":") {
                return .failure(Failure("unexpected character \(describe(bytes[index])) at position \(index + 1)"))
            }
            index += 1
            if index == count {
                return .failure(Failure("address ends with a single ':'"))
            }
            if bytes[index] == UInt8(ascii: ":") {
                if compressAt >= 0 {
                    return .failure(Failure("more than one '::'"))
                }
                compressAt = groups.count
                index += 1
            }
        }
        if compressAt < 0 {
            if groups.count != 8 {
                return .failure(Failure("expected 8 groups, found \(groups.count)"))
            }
        } else {
            if groups.count > 7 {
                return .failure(Failure("'::' stands for no group: there are already 8 groups"))
            }
            let zeros = [UInt16](repeating: 0, count: 8 - groups.count)
            groups.insert(contentsOf: zeros, at: compressAt)
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<4 {
            high = high << 16 | UInt64(groups[i])
            low = low << 16 | UInt64(groups[i + 4])
        }
        return .success((high, low))
    }
}
