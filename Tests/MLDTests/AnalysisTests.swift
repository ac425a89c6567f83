import Foundation
import Testing
@testable import MLD


/// A trajectory of given elements (symbols), positions per frame and optional velocities.
func makeTrajectory(_ symbols: [String], box: Box, dt: Double, positions: [[SIMD3<Double>]],
                    velocities: [[SIMD3<Double>]]? = nil) throws -> Trajectory {
    var elements: [Element] = [], species: [Int] = []
    for s in symbols {
        let e = Element(symbol: s)!
        if let i = elements.firstIndex(of: e) { species.append(i) } else { elements.append(e); species.append(elements.count - 1) }
    }
    return try Trajectory(source: "test", kind: "test", elements: elements, species: species, box: box,
                          times: positions.indices.map { Double($0) * dt }, positions: positions,
                          velocities: velocities)
}

/// A water molecule: O at `o`, H at bond `r` (Å), angle `theta` (degrees), rotated by `R`.
func water(at o: SIMD3<Double>, r: Double, theta: Double, rotation R: [SIMD3<Double>]) -> [SIMD3<Double>] {
    let h = theta * .pi / 360
    let local = [SIMD3(r * sin(h), r * cos(h), 0), SIMD3(-r * sin(h), r * cos(h), 0)]
    func rot(_ v: SIMD3<Double>) -> SIMD3<Double> { R[0] * v.x + R[1] * v.y + R[2] * v.z }
    return [o] + local.map { o + rot($0) }
}

/// Columns of a rotation about axis `u` (unit) by angle `a` radians (Rodrigues).
func rotation(axis u: SIMD3<Double>, angle a: Double) -> [SIMD3<Double>] {
    let c = cos(a), s = sin(a)
    func col(_ e: SIMD3<Double>) -> SIMD3<Double> {
        let cross = SIMD3(u.y * e.z - u.z * e.y, u.z * e.x - u.x * e.z, u.x * e.y - u.y * e.x)
        return e * c + cross * s + u * ((u * e).sum() * (1 - c))
    }
    return [col(SIMD3(1, 0, 0)), col(SIMD3(0, 1, 0)), col(SIMD3(0, 0, 1))]
}

@Suite struct RadialDistributionTests {
    @Test func uniformRandomPointsTendToOne() throws {
        var rng = SplitMix64(seed: 7)
        let box = Box(cubic: 10)
        let symbols = Array(repeating: "O", count: 300) + Array(repeating: "H", count: 300)
        let frames = (0..<10).map { _ in
            symbols.map { _ in SIMD3(Double.random(in: 0..<10, using: &rng), Double.random(in: 0..<10, using: &rng),
                                     Double.random(in: 0..<10, using: &rng)) }
        }
        let t = try makeTrajectory(symbols, box: box, dt: 1, positions: frames)
        for (a, b) in [("O", "O"), ("O", "H"), ("H", "H")] {
            let rdf = try RadialDistribution(t, a, b, binWidth: 0.1)
            #expect(abs(rdf.rMax - 5) < 1e-9, "rMax is half the box")
            let far = rdf.r.indices.filter { rdf.r[$0] > 1.5 }
            let mean = far.map { rdf.g[$0] }.reduce(0, +) / Double(far.count)
            #expect(abs(mean - 1) < 0.02, "g_\(a)\(b) mean over 1.5-5 Å is \(mean)")
            let worst = far.map { abs(rdf.g[$0] - 1) }.max()!
            #expect(worst < 0.15, "g_\(a)\(b) bin furthest from 1 is off by \(worst)")
        }
    }

    @Test func simpleCubicLatticePeaksAtLatticeDistances() throws {
        let a = 2.0, n = 5
        var points: [SIMD3<Double>] = []
        for i in 0..<n { for j in 0..<n { for k in 0..<n { points.append(SIMD3(Double(i), Double(j), Double(k)) * a) } } }
        let t = try makeTrajectory(Array(repeating: "O", count: points.count), box: Box(cubic: a * Double(n)),
                                   dt: 1, positions: [points, points])
        let rdf = try RadialDistribution(t, "O", "O", binWidth: 0.03)
        // Every occupied bin lies at a lattice distance a·sqrt(i²+j²+k²).
        var sums = Set<Int>()
        for i in 0...3 { for j in 0...3 { for k in 0...3 { sums.insert(i * i + j * j + k * k) } } }
        let lattice: [Double] = sums.filter { $0 > 0 }.sorted().map { a * Double($0).squareRoot() }
        for k in rdf.r.indices where rdf.g[k] > 0 {
            #expect(lattice.contains { abs($0 - rdf.r[k]) <= rdf.binWidth }, "g > 0 at \(rdf.r[k]) Å, not a lattice distance")
        }
        for d in lattice where d < rdf.rMax - rdf.binWidth {
            let k = Int(d / rdf.binWidth)
            #expect(rdf.g[k] > 1, "no peak at lattice distance \(d) Å")
        }
        let peak = try #require(rdf.firstPeak())
        #expect(abs(peak.position - a) <= rdf.binWidth)
        #expect(abs(rdf.coordination(within: 2.2) - 6) < 0.01, "6 nearest neighbours")
        #expect(abs(rdf.coordination(within: 3.0) - 18) < 0.02, "6 + 12 neighbours")
    }
}

@Suite struct BondAndAngleTests {
    /// Two rigid waters rotating and drifting through the periodic boundary.
    func rigidWaters(r: Double, theta: Double) throws -> Trajectory {
        let box = Box(cubic: 8)
        let frames = (0..<50).map { k -> [SIMD3<Double>] in
            let t = Double(k)
            let R1 = rotation(axis: SIMD3(1, 2, 2) / 3, angle: 0.13 * t)
            let R2 = rotation(axis: SIMD3(0, 0.6, 0.8), angle: -0.21 * t)
            let m1 = water(at: SIMD3(7.8, 1, 1) + SIMD3(0.05, 0.02, 0) * t, r: r, theta: theta, rotation: R1)
            let m2 = water(at: SIMD3(3, 4, 5) + SIMD3(-0.03, 0, 0.04) * t, r: r, theta: theta, rotation: R2)
            return (m1 + m2).map { box.wrap($0) }
        }
        return try makeTrajectory(["O", "H", "H", "O", "H", "H"], box: box, dt: 0.5, positions: frames)
    }

    @Test func rigidMoleculeHasZeroBondVarianceAndItsAngle() throws {
        let t = try rigidWaters(r: 0.9572, theta: 104.52)
        let bonds = try BondLengths(t)
        #expect(abs(bonds.mean - 0.9572) < 1e-12)
        #expect(bonds.standardDeviation < 1e-12)
        #expect(bonds.reassignedAtoms == 0)
        #expect(bonds.partners[0] == [0, 0, 3, 3])
        let angles = try BondAngles(t)
        #expect(abs(angles.mean - 104.52) < 1e-9)
        #expect(angles.standardDeviation < 1e-9)
        let hist = angles.distribution(binWidth: 1)
        #expect(abs(hist.density.reduce(0, +) * hist.binWidth - 1) < 1e-12)
        #expect(hist.centers[hist.density.firstIndex(of: hist.density.max()!)!] == 104.5)
    }

    @Test func vibratingBondHasKnownMeanAndDeviation() throws {
        // r(t) = r0 + A sin(2π t / 20), 200 frames = 10 whole periods: mean r0, std A/√2.
        let r0 = 1.0, A = 0.05
        let box = Box(cubic: 10)
        let frames = (0..<200).map { k -> [SIMD3<Double>] in
            let r = r0 + A * sin(2 * .pi * Double(k) / 20)
            return [SIMD3(9.5, 5, 5), box.wrap(SIMD3(9.5 + r, 5, 5))]
        }
        let bonds = try BondLengths(try makeTrajectory(["O", "H"], box: box, dt: 1, positions: frames))
        #expect(abs(bonds.mean - r0) < 1e-12)
        #expect(abs(bonds.standardDeviation - A / 2.0.squareRoot()) < 1e-12)
        #expect(abs(bonds.maximum - (r0 + A)) < 1e-12)
        #expect(bonds.series(atom: 1)!.count == 200)
    }

    @Test func stretchTemperatureCountsOnlyTheVelocityAlongTheBond() throws {
        // r(t) = r0 + A sin(ωt): ṙ = Aω cos(ωt), so over whole periods μ<ṙ²>/k_B = μ A² ω² / (2 k_B).
        // Both atoms also move perpendicular to the bond and together, which must not count.
        let r0 = 1.0, A = 0.02, period = 20.0, omega = 2 * Double.pi / period
        let box = Box(cubic: 10)
        let drift = SIMD3(0.0, 0.011, -0.007), sideways = SIMD3(0.0, 0.004, 0.009)
        var positions: [[SIMD3<Double>]] = [], velocities: [[SIMD3<Double>]] = []
        for k in 0..<200 {
            let t = Double(k)
            let r = r0 + A * sin(omega * t), rate = A * omega * cos(omega * t)
            positions.append([SIMD3(5, 5, 5), SIMD3(5 + r, 5, 5)])
            velocities.append([drift, drift + sideways + SIMD3(rate, 0, 0)])
        }
        let t = try makeTrajectory(["O", "H"], box: box, dt: 1, positions: positions, velocities: velocities)
        let bonds = try BondLengths(t)
        let stretch = try BondStretch(t, bonds: bonds)
        let mO = Element(symbol: "O")!.mass, mH = Element(symbol: "H")!.mass
        let mu = mO * mH / (mO + mH)
        let expected = mu * A * A * omega * omega / 2 * Units.massVelocitySquared / Units.boltzmann
        #expect(abs(stretch.meanTemperature - expected) < 1e-9 * expected)
        #expect(stretch.temperature.count == 200)
        // The spread rescaled to 300 K: std √(300 / T).
        let rescaled = try #require(stretch.standardDeviationAt(300, measured: bonds.standardDeviation))
        #expect(abs(rescaled - A / 2.0.squareRoot() * (300 / expected).squareRoot()) < 1e-9 * rescaled)
    }
}

@Suite struct DisplacementTests {
    @Test func translatingMoleculeHasBallisticMSD() throws {
        let box = Box(cubic: 6)
        let v = SIMD3(0.31, -0.17, 0.05)  // Å per frame (< half a box)
        let start = water(at: SIMD3(1, 2, 3), r: 0.96, theta: 104.5, rotation: rotation(axis: SIMD3(0, 0, 1), angle: 0))
        let frames = (0..<101).map { k in start.map { box.wrap($0 + v * Double(k)) } }
        let t = try makeTrajectory(["O", "H", "H"], box: box, dt: 2, positions: frames)
        let msd = try MeanSquaredDisplacement(t, removeCentreOfMassDrift: false, fitWindow: 20...100)
        let v2 = (v * v).sum() / 4  // (Å/fs)² with 2 fs per frame
        for (k, lag) in msd.lags.enumerated() {
            #expect(abs(msd.msd[k] - v2 * lag * lag) < 1e-9 * (1 + v2 * lag * lag), "lag \(lag) fs")
        }
        // A line through v²τ² on evenly spaced lags over [a, b] has slope v²(a + b).
        #expect(abs(msd.diffusion - v2 * 120 / 6) < 1e-9)
        #expect(abs(msd.centreOfMassDrift - (v * v).sum().squareRoot() * 100) < 1e-9)
        // With the centre-of-mass drift removed, a molecule moving as a whole does not diffuse.
        let still = try MeanSquaredDisplacement(t, removeCentreOfMassDrift: true)
        #expect(still.msd.max()! < 1e-18)
    }

    @Test func spacingMustBeUniform() throws {
        let p = [[SIMD3<Double>(1, 1, 1)], [SIMD3(1, 1, 1.1)], [SIMD3(1, 1, 1.2)]]
        let t = try Trajectory(source: "uneven", kind: "test", elements: [.oxygen], species: [0], box: Box(cubic: 5),
                               times: [0, 1, 3], positions: p)
        #expect(throws: MLDError.self) { try MeanSquaredDisplacement(t, removeCentreOfMassDrift: false) }
    }
}

@Suite struct SpectrumTests {
    /// Atoms oscillating harmonically at the given wavenumbers (cm⁻¹), frames every `dt` fs.
    func oscillators(_ wavenumbers: [Double], dt: Double, frames: Int) throws -> Trajectory {
        let box = Box(cubic: 20)
        var pos: [[SIMD3<Double>]] = [], vel: [[SIMD3<Double>]] = []
        for k in 0..<frames {
            let t = Double(k) * dt
            var p: [SIMD3<Double>] = [], v: [SIMD3<Double>] = []
            for (i, nu) in wavenumbers.enumerated() {
                let w = 2 * Double.pi * Units.speedOfLight * nu  // rad/fs
                let A = 0.05, phase = 0.7 * Double(i)
                p.append(SIMD3(5 + 3 * Double(i) + A * cos(w * t + phase), 5, 5))
                v.append(SIMD3(-A * w * sin(w * t + phase), 0, 0))
            }
            pos.append(p); vel.append(v)
        }
        return try makeTrajectory(Array(repeating: "H", count: wavenumbers.count), box: box, dt: dt,
                                  positions: pos, velocities: vel)
    }

    @Test func harmonicOscillatorPeaksAtItsFrequency() throws {
        let t = try oscillators([1600], dt: 0.5, frames: 2000)
        let s = try VibrationalSpectrum(t)
        let peak = s.wavenumbers[s.intensity.firstIndex(of: s.intensity.max()!)!]
        #expect(abs(peak - 1600) <= 4, "peak at \(peak) cm⁻¹")
        // VACF of x = A cos(ωt) is cos(ωτ).
        let w = 2 * Double.pi * Units.speedOfLight * 1600
        for k in [1, 5, 10, 23, 50] {
            #expect(abs(s.vacf[k] - cos(w * s.lags[k])) < 0.02, "C(\(s.lags[k]) fs)")
        }
    }

    @Test func stretchAndBendPeaksAndAliasing() throws {
        let t = try oscillators([1640, 3500], dt: 0.5, frames: 2000)
        let s = try VibrationalSpectrum(t)
        #expect(abs(s.peak(in: VibrationalSpectrum.bendRange)! - 1640) <= 4)
        #expect(abs(s.peak(in: VibrationalSpectrum.stretchRange)! - 3500) <= 4)
        // Frames every 5 fs: Nyquist 3336 cm⁻¹, the stretch cannot be resolved.
        let coarse = try VibrationalSpectrum(try oscillators([1640, 3500], dt: 5, frames: 400))
        #expect(abs(coarse.nyquist - 3335.6) < 0.1)
        #expect(coarse.peak(in: VibrationalSpectrum.stretchRange) == nil)
        #expect(abs(coarse.peak(in: VibrationalSpectrum.bendRange)! - 1640) <= 4)
    }
}

@Suite struct TrajectoryTests {
    @Test func kineticEnergyMatchesCP2KEnergyFile() throws {
        let t = try Trajectory(cp2kDirectory: bundledData)
        #expect(t.frameCount == 900 && t.velocities != nil)
        #expect(abs(try t.uniformSpacing() - 0.5) < 1e-9)
        let ke = try KineticEnergySeries(t)
        #expect(ke.degreesOfFreedom == 3 * 192 - 3)
        for k in [0, 450, 899] {
            let e = t.thermo.first { $0.step == t.steps[k] }!
            #expect(abs(ke.kinetic[k] - e.kinetic) < 1e-5 * e.kinetic, "kinetic energy at frame \(k)")
            #expect(abs(ke.temperature[k] - e.temperature) < 1e-3 * e.temperature, "temperature at frame \(k)")
        }
    }

    @Test func readsAnMLDRunDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mld-traj-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let box = Box(cubic: 9)
        let frames = (0..<4).map { k in
            Configuration(atoms: [.oxygen, .hydrogen, .hydrogen],
                          positions: water(at: SIMD3(1, 1, 1) + Double(k) * 0.01, r: 0.96, theta: 104.5,
                                           rotation: rotation(axis: SIMD3(1, 0, 0), angle: 0)),
                          velocities: Array(repeating: SIMD3(0.01, 0, 0), count: 3), box: box,
                          step: 10 * k, time: k == 2 ? nil : 5.0 * Double(k))
        }
        try ExtendedXYZ.write(frames, to: dir + "/trajectory.xyz")
        var csv = "step,time_fs,kinetic_eV,temperature_K,loss_O_eV,loss_H_eV,thermostat_eV,com_drift_A,wall_s\n"
        for k in 0..<31 { csv += "\(k),\(0.5 * Double(k)),0.1,300,-1,-0.5,0,0,0.01\n" }
        try csv.write(toFile: dir + "/thermo.csv", atomically: true, encoding: .utf8)
        let t = try Trajectory.load(dir)
        #expect(t.kind == "mld run")
        #expect(t.times == [0, 5, 10, 15], "frame 2 takes its time from thermo.csv")
        #expect(t.thermo.count == 31)
        #expect(t.velocities?[3][1] == SIMD3(0.01, 0, 0))

        try "step,time,kinetic_eV\n0,0,1\n".write(toFile: dir + "/thermo.csv", atomically: true, encoding: .utf8)
        #expect(throws: MLDError.input(file: dir + "/thermo.csv", line: 1, problem:
            "header must be step,time_fs,kinetic_eV,temperature_K,loss_<El>_eV...,thermostat_eV,com_drift_A,wall_s; found 'step,time,kinetic_eV'")) {
            try Trajectory(runDirectory: dir)
        }
    }

    @Test func restrictsToATimeWindow() throws {
        let p = (0..<10).map { [SIMD3<Double>(1, 1, 0.1 * Double($0))] }
        let t = try makeTrajectory(["O"], box: Box(cubic: 5), dt: 0.5, positions: p)
        let w = try t.restricted(to: 1...2.9)
        #expect(w.times == [1, 1.5, 2, 2.5])
        #expect(w.positions[0][0].z == 0.2)
        #expect(throws: MLDError.self) { try t.restricted(to: 10...20) }
    }

    @Test func readsAFitScanTable() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mld-scan-\(getpid()).csv").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "n_O,train_rel_rmse_O,test_rel_rmse_O,train_rel_rmse_H,test_rel_rmse_H\n4,0.5,0.6,0.4,0.45\n6,0.4,0.5,0.3,0.35\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let scan = try FitScanTable(path: path)
        #expect(scan.parameter == "n_O" && scan.elements == ["O", "H"] && scan.numericParameter)
        #expect(scan.test[1] == [0.45, 0.35] && scan.train[0] == [0.5, 0.4])
        try "n_O,train_rel_rmse_O,test_rel_rmse_H\n4,0.5,0.6\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: MLDError.input(file: path, line: 1, problem: "columns 2-3 must be train_rel_rmse_<El>,test_rel_rmse_<El>; found train_rel_rmse_O,test_rel_rmse_H")) {
            try FitScanTable(path: path)
        }
        try "n_O,train_rel_rmse_O,test_rel_rmse_O\n4,0.5,x\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: MLDError.input(file: path, line: 2, problem: "rel_rmse of O is not a number")) {
            try FitScanTable(path: path)
        }
    }

    @Test func seededHydrogenChoiceRepeats() {
        let h = Array(stride(from: 1, to: 192, by: 3))
        let a = Comparison.pick(4, from: h, seed: 3), b = Comparison.pick(4, from: h, seed: 3)
        #expect(a == b && Set(a).count == 4 && a.allSatisfy(h.contains))
        #expect(Comparison.pick(4, from: h, seed: 4) != a)
    }
}
