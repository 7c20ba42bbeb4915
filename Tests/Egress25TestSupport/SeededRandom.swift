/// SplitMix64: a tiny seeded generator, so random-data and property tests are reproducible (print the seed of a
/// failing case and run it again).
package struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's 64-bit state; advances by the golden-ratio constant on every ``next()``.
    package var state: UInt64

    /// Starts the sequence at `seed`: equal seeds give equal sequences.
    package init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
