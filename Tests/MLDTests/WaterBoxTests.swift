import Foundation
import Testing
@testable import MLD

/// Minimum-image distance in Å.
private func distance(_ box: Box, _ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Double {
    let d = box.displacement(from: a, to: b)
    return (d * d).sum().squareRoot()
}

/// Checks a water box the way the issue asks: molecule count, density within 1 %, no O-O
/// pair under 2.4 Å, every O with exactly two H within 1.1 Å. Returns the smallest O-O distance.
@discardableResult
func checkWaterBox(_ c: Configuration, molecules: Int, density: Double,
                   sourceLocation: SourceLocation = #_sourceLocation) -> Double {
    #expect(c.count == 3 * molecules, sourceLocation: sourceLocation)
    #expect(c.elements.map(\.symbol) == ["O", "H"], sourceLocation: sourceLocation)
    let o = (0..<c.count).filter { c.species[$0] == 0 }
    let h = (0..<c.count).filter { c.species[$0] == 1 }
    #expect(o.count == molecules && h.count == 2 * molecules, sourceLocation: sourceLocation)
    let rho = BoxSummary.density(of: c)
    #expect(abs(rho - density) / density < 0.01, "density \(rho) g/cm3", sourceLocation: sourceLocation)
    var minOO = Double.infinity
    for a in 0..<o.count {
        for b in (a + 1)..<o.count { minOO = min(minOO, distance(c.box, c.positions[o[a]], c.positions[o[b]])) }
    }
    #expect(minOO >= 2.4, "O-O distance \(minOO) Å", sourceLocation: sourceLocation)
    var bonded = [Int](repeating: 0, count: c.count)
    for j in h {
        for i in o where distance(c.box, c.positions[i], c.positions[j]) < 1.1 { bonded[i] += 1 }
    }
    let broken = o.filter { bonded[$0] != 2 }
    #expect(broken.isEmpty, "oxygens without exactly two H within 1.1 Å: \(broken.prefix(5))",
            sourceLocation: sourceLocation)
    return minOO
}

@Suite struct WaterBoxTests {
    @Test(arguments: [500, 343, 1000, 64])
    func freshBoxIsLiquidLikeWater(molecules: Int) throws {
        let c = try WaterBox(molecules: molecules).build()
        checkWaterBox(c, molecules: molecules, density: 0.997)
        // Exact target temperature with 3N-3 degrees of freedom, no centre-of-mass motion.
        let t = try #require(BoxSummary.temperature(of: c))
        #expect(abs(t - 300) < 1e-9)
        var p = SIMD3<Double>.zero
        for i in 0..<c.count { p += c.velocities![i] * c.elements[c.species[i]].mass }
        #expect((p * p).sum().squareRoot() < 1e-10)
    }

    @Test func geometryIsTheRequestedOne() throws {
        var b = WaterBox(molecules: 256)
        b.bondLength = 0.9673
        b.angle = 105.0
        let c = try b.build()
        for m in 0..<256 {
            let o = c.positions[3 * m], h1 = c.positions[3 * m + 1], h2 = c.positions[3 * m + 2]
            let d1 = h1 - o, d2 = h2 - o
            let r1 = (d1 * d1).sum().squareRoot(), r2 = (d2 * d2).sum().squareRoot()
            #expect(abs(r1 - 0.9673) < 1e-12 && abs(r2 - 0.9673) < 1e-12)
            let cosine = (d1 * d2).sum() / (r1 * r2)
            #expect(abs(acos(cosine) * 180 / .pi - 105.0) < 1e-9)
        }
    }

    @Test func orientationsAreRandom() throws {
        // The mean of the unit bisector over many molecules is near zero for uniform orientations.
        let c = try WaterBox(molecules: 4000).build()
        var mean = SIMD3<Double>.zero
        for m in 0..<4000 {
            let bis = (c.positions[3 * m + 1] + c.positions[3 * m + 2]) / 2 - c.positions[3 * m]
            mean += bis / (bis * bis).sum().squareRoot()
        }
        mean /= 4000
        // Standard error of each component is 1/sqrt(3 * 4000) ~ 0.009.
        #expect((mean * mean).sum().squareRoot() < 0.05)
    }

    @Test func seedDecidesTheBox() throws {
        var a = WaterBox(molecules: 300); a.seed = 7
        var b = WaterBox(molecules: 300); b.seed = 7
        var c = WaterBox(molecules: 300); c.seed = 8
        let ca = try a.build(), cb = try b.build(), cc = try c.build()
        #expect(ca.positions == cb.positions && ca.velocities! == cb.velocities!)
        #expect(ca.positions != cc.positions)
    }

    @Test func zeroTemperatureGivesZeroVelocities() throws {
        var b = WaterBox(molecules: 100); b.temperature = 0
        let c = try b.build()
        #expect(c.velocities!.allSatisfy { $0 == .zero })
    }

    @Test func badSettingsAreUsageErrors() {
        #expect(throws: MLDError.self) { try WaterBox(molecules: 0).build() }
        var b = WaterBox(molecules: 100); b.density = -1
        #expect(throws: MLDError.self) { try b.build() }
        var d = WaterBox(molecules: 100); d.density = 2.9
        #expect(throws: MLDError.self) { try d.build() }
    }

    @Test func bigBoxIsFastAndLinear() throws {
        // 1,000,000 molecules: just the counts and a spot check (timing is for `mld bench`).
        let c = try WaterBox(molecules: 1_000_000).build()
        #expect(c.count == 3_000_000)
        #expect(abs(BoxSummary.density(of: c) - 0.997) < 1e-3)
        let t = try #require(BoxSummary.temperature(of: c))
        #expect(abs(t - 300) < 1e-6)
    }
}

@Suite struct ReplicationTests {
    static let data = "Data/cp2k-water64-xtb-300K"

    /// The repository root (tests run from anywhere).
    static var root: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }

    static func frame() throws -> Configuration {
        try Configuration.load(root + "/" + data, frame: 0)
    }

    @Test func countsParse() {
        #expect(ReplicationCounts(parsing: "4x4x4")?.counts == SIMD3(4, 4, 4))
        #expect(ReplicationCounts(parsing: "2X3x1")?.counts == SIMD3(2, 3, 1))
        #expect(ReplicationCounts(parsing: "3")?.counts == SIMD3(3, 3, 3))
        for bad in ["", "0x1x1", "2x2", "axbxc", "2x2x2x2", "-1", "2 x2x"] {
            #expect(ReplicationCounts(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func tiledFrameHasTheRightAtomsAndBox() throws {
        let c = try Self.frame()
        let big = c.replicated(SIMD3(2, 1, 3))
        #expect(big.count == 6 * c.count)
        #expect(big.box.lengths == c.box.lengths * SIMD3(2, 1, 3))
        #expect(abs(BoxSummary.density(of: big) - BoxSummary.density(of: c)) < 1e-12)
        #expect(big.velocities!.count == big.count)
        for m in 0..<6 {
            for a in 0..<c.count {
                #expect(big.species[m * c.count + a] == c.species[a])
                #expect(big.velocities![m * c.count + a] == c.velocities![a])
            }
        }
        // Six copies of every velocity: six times the kinetic energy.
        func twiceKinetic(_ c: Configuration) -> Double {
            (0..<c.count).reduce(0.0) { $0 + c.elements[c.species[$1]].mass * (c.velocities![$1] * c.velocities![$1]).sum() }
        }
        #expect(abs(twiceKinetic(big) / twiceKinetic(c) - 6) < 1e-12)
    }

    /// A short-ranged per-atom force: the sum over all pairs within `cutoff` Å of a smooth
    /// pair force (minimum image), species-dependent, so every neighbour counts. A tiled box
    /// must give every atom the force of its original when `cutoff` < half the original box.
    static func pairForces(_ c: Configuration, cutoff: Double) -> [SIMD3<Double>] {
        var f = [SIMD3<Double>](repeating: .zero, count: c.count)
        for i in 0..<c.count {
            for j in 0..<c.count where j != i {
                let d = c.box.displacement(from: c.positions[j], to: c.positions[i])
                let r = (d * d).sum().squareRoot()
                guard r < cutoff else { continue }
                let s = 1.0 + Double(c.species[i] + 2 * c.species[j])
                let x = 1 - r / cutoff
                f[i] += d / r * s * x * x * exp(-r)
            }
        }
        return f
    }

    @Test func tilingPreservesPerAtomForces() throws {
        let c = try Self.frame()
        let cutoff = 0.49 * c.box.shortestEdge
        let small = Self.pairForces(c, cutoff: cutoff)
        let big = c.replicated(SIMD3(2, 2, 1))
        let tiled = Self.pairForces(big, cutoff: cutoff)
        var worst = 0.0
        for m in 0..<4 {
            for a in 0..<c.count {
                let d = tiled[m * c.count + a] - small[a]
                worst = max(worst, (d * d).sum().squareRoot())
            }
        }
        #expect(worst < 1e-12, "largest per-atom force difference \(worst)")
    }
}

@Suite struct StreamingXYZTests {
    @Test func streamingWriterMatchesFormatAndReadsBack() throws {
        var c = try WaterBox(molecules: 700).build()
        c.forces = c.velocities!.map { $0 * 3 }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mld-stream-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("box.xyz").path
        // Small blocks so that several batches are written.
        try ExtendedXYZ.writeStreaming(c, to: path, blockAtoms: 97)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == ExtendedXYZ.format(c))
        let back = try ExtendedXYZ.read(path)
        #expect(back.count == 1)
        #expect(back[0].positions == c.positions)
        #expect(back[0].velocities! == c.velocities!)
        #expect(back[0].box == c.box)
        // Overwriting an existing file works and leaves no temporary behind.
        try ExtendedXYZ.writeStreaming(c, to: path)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(left == ["box.xyz"])
    }
}

/// Tiling against the real force code: a nearest-neighbour model (search radius under half the
/// original box) gives every atom of the tiled box the force of its original, on the CPU
/// backend and against the model's all-pairs evaluation.
@Suite struct ReplicationModelForceTests {
    /// A nearest O:6,H:8 model with seeded random coefficients (any quadratic loss will do).
    static func model(searchRadius: Double) -> LearnedModel {
        var rng = SplitMix64(seed: 42)
        let p = 14
        func losses() -> QuadraticLoss {
            let w = (0..<p).map { _ in Double.random(in: -0.5...0.5, using: &rng) }
            var W = [Double](repeating: 0, count: p * p)
            for i in 0..<p {
                for j in i..<p {
                    let x = Double.random(in: -0.1...0.1, using: &rng)
                    W[i * p + j] = x; W[j * p + i] = x
                }
            }
            return QuadraticLoss(w: w, W: W)
        }
        let range = InvariantRange(min: [Double](repeating: 0, count: p), max: [Double](repeating: 10, count: p))
        return LearnedModel(species: [.oxygen, .hydrogen],
                            invariants: .nearest(species: ["O", "H"], counts: [6, 8], searchRadius: searchRadius),
                            form: .full, losses: [losses(), losses()], ranges: [range, range])
    }

    static func cpuForces(_ m: LearnedModel, _ c: Configuration) throws -> [SIMD3<Double>] {
        let potential = LearnedModelPotential(model: m)
        let species = try m.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
        let backend = try CPUBackend(potential: potential, species: species, box: c.box)
        var f: [SIMD3<Double>] = []
        var l: [Double]? = nil
        try backend.computeForces(positions: c.positions, forces: &f, losses: &l)
        return f
    }

    @Test func tiledBoxHasTheOriginalPerAtomForces() throws {
        let c = try ReplicationTests.frame()
        let m = Self.model(searchRadius: 0.48 * c.box.shortestEdge)
        let original = try m.forces(c)            // all pairs, the original box
        let originalCPU = try Self.cpuForces(m, c)
        let big = c.replicated(SIMD3(2, 2, 2))
        let tiled = try Self.cpuForces(m, big)
        #expect(tiled.count == 8 * c.count)
        var worst = 0.0, scale = 0.0
        for a in 0..<c.count {
            scale = max(scale, (original[a] * original[a]).sum().squareRoot())
            let d0 = originalCPU[a] - original[a]
            worst = max(worst, (d0 * d0).sum().squareRoot())
            for image in 0..<8 {
                let d = tiled[image * c.count + a] - original[a]
                worst = max(worst, (d * d).sum().squareRoot())
            }
        }
        #expect(scale > 0.01, "the test model gives forces (largest \(scale) eV/Å)")
        #expect(worst <= 1e-9 * max(scale, 1), "largest per-atom force difference \(worst) eV/Å")
    }
}
