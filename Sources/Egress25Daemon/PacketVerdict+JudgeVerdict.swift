import Egress25Core
import NetfilterQueue

extension PacketVerdict {
    /// The NFQUEUE verdict for the core judge's verdict: the same verdict code (`NF_ACCEPT`, `NF_DROP`,
    /// `NF_REPEAT`, include/uapi/linux/netfilter.h) and the same mark.
    @inlinable
    public init(_ verdict: JudgeVerdict) {
        switch verdict {
        case .accept(let mark): self = .accept(mark: mark)
        case .drop: self = .drop
        case .repeat(let mark): self = .repeat(mark: mark)
        }
    }
}
