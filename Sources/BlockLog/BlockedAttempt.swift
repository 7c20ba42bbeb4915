import Egress25Core

/// Why a SYN was blocked: ``Egress25Core/BlockReason``, which the core's packet judge produces. Kept under this
/// name so that `BlockLog.BlockReason` still resolves.
public typealias BlockReason = Egress25Core.BlockReason

/// One blocked SYN, as a queue worker hands it to the block log: ``Egress25Core/BlockedAttempt``, built by the
/// core's `PacketJudge`. Kept under this name so that `BlockLog.BlockedAttempt` still resolves.
public typealias BlockedAttempt = Egress25Core.BlockedAttempt
