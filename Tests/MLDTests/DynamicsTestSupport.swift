import Foundation
@testable import MLD

/// Shared builders for the dynamics tests.
enum DynamicsFixtures {
    static let argon = Element(symbol: "Ar", mass: 39.948)
    /// Lennard-Jones argon: epsilon 0.0104 eV, sigma 3.4 Å, cutoff 8.5 Å.
    static let argonLJ = PairAgentLoss(speciesCount: 1, cutoff: 8.5, epsilon: 0.0104, sigma: 3.4)

    /// `cells`³ fcc unit cells of argon (4 atoms each) at lattice constant `a` (Å), positions
    /// jittered by `jitter` Å, Maxwell-Boltzmann velocities at `temperature` K.
    static func argonCrystal(cells: Int = 4, a: Double = 5.3, jitter: Double = 0.05,
                             temperature: Double, seed: UInt64) -> Configuration {
        var rng = MLD.SplitMix64(seed: seed)
        let basis: [SIMD3<Double>] = [SIMD3(0, 0, 0), SIMD3(0.5, 0.5, 0), SIMD3(0.5, 0, 0.5), SIMD3(0, 0.5, 0.5)]
        var pos: [SIMD3<Double>] = []
        for x in 0..<cells { for y in 0..<cells { for z in 0..<cells { for b in basis {
            let j = SIMD3(uniform(&rng), uniform(&rng), uniform(&rng)) * 2 - 1
            pos.append((SIMD3(Double(x), Double(y), Double(z)) + b) * a + jitter * j)
        } } } }
        let c = Configuration(atoms: Array(repeating: argon, count: pos.count), positions: pos,
                              box: Box(cubic: Double(cells) * a))
        return c.withMaxwellBoltzmannVelocities(temperature: temperature, rng: &rng)
    }

    static func uniform(_ rng: inout MLD.SplitMix64) -> Double { Double(rng.next() >> 11) * 0x1p-53 }

    /// Random positions of `n` atoms of `species` species in `box` (some deliberately outside it).
    static func randomConfiguration(n: Int, box: Box, seed: UInt64, outside: Bool = true) -> Configuration {
        var rng = MLD.SplitMix64(seed: seed)
        let elements = [Element.oxygen, Element.hydrogen]
        var species: [Int] = []
        var pos: [SIMD3<Double>] = []
        for i in 0..<n {
            species.append(i % 3 == 0 ? 0 : 1)
            var r = SIMD3(uniform(&rng), uniform(&rng), uniform(&rng)) * box.lengths
            if outside && i % 7 == 0 { r += box.lengths * SIMD3(Double(i % 3) - 1, 2, -3) }
            pos.append(r)
        }
        return Configuration(elements: elements, species: species, positions: pos, box: box)
    }

    /// The bundled CP2K data (read once).
    static let water: CP2KRun = try! CP2KReader.read(directory: dataDirectory, requireForces: true)

    static var dataDirectory: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Data/cp2k-water64-xtb-300K").path
    }

    /// A fresh temporary directory.
    static func temporaryDirectory(_ name: String) -> String {
        let p = NSTemporaryDirectory() + "mld-\(name)-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))"
        try? FileManager.default.removeItem(atPath: p)
        return p
    }

    /// Total potential energy of a conservative pair agent loss, `1/2 sum_k H_k`, in eV.
    static func potentialEnergy(_ s: Simulation) throws -> Double {
        var f: [SIMD3<Double>] = []
        var l: [Double]? = []
        try s.backend.computeForces(positions: s.positions, forces: &f, losses: &l)
        return 0.5 * l!.reduce(0, +)
    }

    /// The fitted model of the bundled data with the fit's default split, fitted once per test run.
    static let fittedModel: LearnedModel = {
        var settings = FitSettings()
        settings.sensitivity = false
        return try! LossFitter.fit(run: water, settings: settings).model
    }()
}

/// A test backend: every atom in its own isotropic harmonic trap, F = -k (q - centre).
final class HarmonicTrapBackend: ForceBackend {
    let name = "trap"
    let deviceName = "test"
    let neighbourListBuilds = 0
    let k: Double
    let centres: [SIMD3<Double>]
    init(k: Double, centres: [SIMD3<Double>]) { self.k = k; self.centres = centres }
    func computeForces(positions: [SIMD3<Double>], forces: inout [SIMD3<Double>], losses: inout [Double]?) throws {
        forces = zip(positions, centres).map { -k * ($0 - $1) }
        if losses != nil { losses = zip(positions, centres).map { 0.5 * k * (($0 - $1) * ($0 - $1)).sum() } }
    }
}
