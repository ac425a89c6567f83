/// The water box `mld bench` times at one size.
///
/// A size of `n k³` atoms, where `n` is the reference configuration's atom count (192 for the
/// 64-water CP2K frame), is that configuration tiled `k x k x k`: 192, 1,536, 12,288, 98,304 and
/// 786,432 atoms are k = 1, 2, 4, 8 and 16, the real liquid structure at every size. Any other
/// size that is a multiple of 3 is a fresh `WaterBox` of `atoms / 3` molecules at 0.997 g/cm³
/// and 300 K (seed 1). With `shuffled` the atoms then come in a random order (seed 1): the same
/// box, numbered as a long run's diffusion leaves a molecule-by-molecule numbering.
public struct BenchmarkSystem: Sendable {
    /// The configuration to simulate.
    public var configuration: Configuration
    /// How it was made, in words ("CP2K frame tiled 4x4x4", "water lattice, 1000 molecules").
    public var origin: String

    public init(atoms: Int, reference: Configuration?, shuffled: Bool = false) throws {
        try self.init(atoms: atoms, reference: reference)
        if shuffled {
            configuration = configuration.permuted(Self.randomOrder(configuration.count, seed: 1))
            origin += ", atoms in random order"
        }
    }

    /// A uniformly random permutation of 0..<n (Fisher-Yates on `SplitMix64`).
    public static func randomOrder(_ n: Int, seed: UInt64) -> [Int] {
        var order = Array(0..<n)
        var rng = SplitMix64(seed: seed)
        for i in stride(from: n - 1, to: 0, by: -1) {
            order.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
        return order
    }

    private init(atoms: Int, reference: Configuration?) throws {
        if let r = reference, r.count > 0, atoms % r.count == 0 {
            let images = atoms / r.count
            var k = 1
            while k * k * k < images { k += 1 }
            if k * k * k == images {
                configuration = k == 1 ? r : r.replicated(SIMD3(repeating: k))
                origin = "reference frame tiled \(k)x\(k)x\(k)"
                return
            }
        }
        guard atoms >= 3, atoms % 3 == 0 else {
            let tiled = reference.map { " or \($0.count) k^3 (a tiled reference frame)" } ?? ""
            throw MLDError.usage("--atoms \(atoms): a water box needs a multiple of 3 atoms\(tiled)")
        }
        configuration = try WaterBox(molecules: atoms / 3).build()
        origin = "water lattice, \(atoms / 3) molecules"
    }
}
