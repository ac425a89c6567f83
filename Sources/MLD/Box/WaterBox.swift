import Dispatch
import Foundation

/// A fresh box of rigid-geometry water molecules: the starting point for big simulations.
///
/// Construction, in O(N) time and memory and independent of the number of threads:
/// 1. The cubic box edge follows from the molecule count and the density:
///    `L = (N M_w / (rho N_A))^(1/3)`, with `M_w = M_O + 2 M_H` (g/mol), rho in g/cm³, L in Å.
/// 2. Sites of a face-centred cubic lattice with `m` cells per edge (`4 m³ >= N`, the largest
///    nearest-site distance `L / (m sqrt 2)` for the density) hold the oxygens; when
///    `4 m³ > N` the `N` occupied sites are drawn by selection sampling (Knuth's algorithm S).
/// 3. Every oxygen is displaced by a uniform jitter in a cube of half-edge `jitter` Å, chosen
///    so that no two oxygens come closer than `minimumOODistance` Å (guaranteed, not checked).
/// 4. Every molecule gets a uniformly random orientation (Shoemake's random unit quaternion)
///    with O-H bond `bondLength` Å and H-O-H angle `angle` degrees.
/// 5. Velocities: Maxwell-Boltzmann at `temperature` K per atom (sigma = sqrt(kT/m) Å/fs),
///    the centre-of-mass velocity removed, then scaled so that the kinetic temperature with
///    3N_atoms - 3 degrees of freedom is exactly `temperature`.
///
/// Atoms are written `O H H O H H ...` (species 0 = O, 1 = H, the model's order). Random
/// numbers come from a SplitMix64 stream per block of `blockSize` molecules seeded from `seed`
/// and the block index, so the box depends only on the settings, never on the thread count.
public struct WaterBox: Sendable {
    /// Number of molecules.
    public var molecules: Int
    /// Mass density in g/cm³ (default 0.997, liquid water at 298 K).
    public var density: Double = 0.997
    /// Temperature of the Maxwell-Boltzmann velocities in K (0 gives zero velocities).
    public var temperature: Double = 300
    /// Seed of the random numbers.
    public var seed: UInt64 = 1
    /// O-H bond length in Å (default 0.9572, the experimental gas-phase geometry of TIP3P/TIP4P).
    public var bondLength: Double = 0.9572
    /// H-O-H angle in degrees (default 104.52).
    public var angle: Double = 104.52
    /// The closest two oxygens may come, in Å (default 2.4).
    public var minimumOODistance: Double = 2.4
    /// The largest oxygen jitter (half-edge of the jitter cube) in Å (default 0.3).
    public var maximumJitter: Double = 0.3

    /// Molecules per block of random numbers.
    static let blockSize = 16_384

    public init(molecules: Int) { self.molecules = molecules }

    /// Mass of one water molecule in u.
    public static var moleculeMass: Double { Element.oxygen.mass + 2 * Element.hydrogen.mass }

    /// The cubic box edge in Å for `molecules` at `density` g/cm³.
    public var boxEdge: Double {
        let volume = Double(molecules) * WaterBox.moleculeMass / (density * Units.avogadro) * 1e24
        return cbrt(volume)
    }

    /// FCC cells per box edge: the smallest `m` with `4 m³ >= molecules`.
    public var cellsPerEdge: Int {
        var m = max(1, Int(cbrt(Double(molecules) / 4)))
        while 4 * m * m * m < molecules { m += 1 }
        while m > 1 && 4 * (m - 1) * (m - 1) * (m - 1) >= molecules { m -= 1 }
        return m
    }

    /// Distance between nearest lattice sites in Å.
    public var siteSpacing: Double { boxEdge / Double(cellsPerEdge) / 2.squareRoot() }

    /// Half-edge in Å of the cube each oxygen is jittered in: at most `maximumJitter`, and small
    /// enough that two neighbours jittered towards each other stay `minimumOODistance` apart.
    public var jitter: Double {
        min(maximumJitter, (siteSpacing - minimumOODistance) / (2 * 3.0.squareRoot()) * 0.999)
    }

    /// Checks the settings; throws a usage error naming the bad one.
    public func validate() throws {
        guard molecules >= 1 else { throw MLDError.usage("--molecules must be at least 1 (got \(molecules))") }
        guard molecules <= 200_000_000 else { throw MLDError.usage("--molecules must be at most 200000000 (got \(molecules))") }
        guard density.isFinite, density > 0, density < 3 else {
            throw MLDError.usage("--density must be in (0, 3) g/cm3 (got \(density))")
        }
        guard temperature.isFinite, temperature >= 0 else {
            throw MLDError.usage("--temperature must be >= 0 K (got \(temperature))")
        }
        guard bondLength > 0, bondLength < minimumOODistance / 2 else {
            throw MLDError.usage("O-H bond length must be in (0, \(minimumOODistance / 2)) Å (got \(bondLength))")
        }
        guard angle > 0, angle < 180 else { throw MLDError.usage("H-O-H angle must be in (0, 180) degrees (got \(angle))") }
        guard siteSpacing > minimumOODistance else {
            throw MLDError.usage(String(format: "%d molecules at %g g/cm3 need lattice sites %.3f Å apart, under the %.2f Å minimum O-O distance: use more molecules or a lower density",
                                        molecules, density, siteSpacing, minimumOODistance))
        }
    }

    /// Builds the box.
    public func build() throws -> Configuration {
        try validate()
        let n = molecules
        let m = cellsPerEdge
        let sites = 4 * m * m * m
        let L = boxEdge
        let a = L / Double(m)
        let jit = max(0, jitter)

        // Occupied sites, in lattice order (selection sampling: each site is taken with
        // probability (still needed) / (still unseen), which takes exactly n of them).
        var occupied = [Int32](repeating: 0, count: n)
        if sites == n {
            for i in 0..<n { occupied[i] = Int32(i) }
        } else {
            var rng = SplitMix64(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B)
            var taken = 0
            for s in 0..<sites where taken < n {
                if Double(sites - s) * rng.nextUniform() < Double(n - taken) {
                    occupied[taken] = Int32(s); taken += 1
                }
            }
            precondition(taken == n)
        }

        let atoms = 3 * n
        var positions = [SIMD3<Double>](repeating: .zero, count: atoms)
        var velocities = [SIMD3<Double>](repeating: .zero, count: atoms)
        let half = angle * .pi / 360
        let bodyH1 = SIMD3(sin(half), cos(half), 0) * bondLength
        let bodyH2 = SIMD3(-sin(half), cos(half), 0) * bondLength
        let basis: [SIMD3<Double>] = [SIMD3(0.25, 0.25, 0.25), SIMD3(0.75, 0.75, 0.25),
                                      SIMD3(0.75, 0.25, 0.75), SIMD3(0.25, 0.75, 0.75)]
        let kT = Units.boltzmann * temperature
        let sigmaO = (kT / Element.oxygen.mass * Units.forceOverMass).squareRoot()
        let sigmaH = (kT / Element.hydrogen.mass * Units.forceOverMass).squareRoot()
        let blocks = (n + WaterBox.blockSize - 1) / WaterBox.blockSize
        let seed = self.seed
        // Per block: momentum (u Å/fs), in block order so the sum is deterministic.
        var blockMomentum = [SIMD3<Double>](repeating: .zero, count: blocks)

        positions.withUnsafeMutableBufferPointer { pos in
            velocities.withUnsafeMutableBufferPointer { vel in
                blockMomentum.withUnsafeMutableBufferPointer { mom in
                    occupied.withUnsafeBufferPointer { occ in
                        DispatchQueue.concurrentPerform(iterations: blocks) { b in
                            var rng = SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(b + 1))
                            var p = SIMD3<Double>.zero
                            let lo = b * WaterBox.blockSize, hi = min(n, lo + WaterBox.blockSize)
                            for i in lo..<hi {
                                let s = Int(occ[i])
                                let c = s >> 2
                                let cell = SIMD3(Double(c % m), Double((c / m) % m), Double(c / (m * m)))
                                let u = SIMD3(rng.nextUniform(), rng.nextUniform(), rng.nextUniform())
                                let o = (cell + basis[s & 3]) * a + (u * 2 - 1) * jit
                                let R = WaterBox.randomRotation(&rng)
                                pos[3 * i] = o
                                pos[3 * i + 1] = o + R.0 * bodyH1.x + R.1 * bodyH1.y + R.2 * bodyH1.z
                                pos[3 * i + 2] = o + R.0 * bodyH2.x + R.1 * bodyH2.y + R.2 * bodyH2.z
                                if kT > 0 {
                                    let vO = rng.nextNormal3() * sigmaO
                                    let vH1 = rng.nextNormal3() * sigmaH
                                    let vH2 = rng.nextNormal3() * sigmaH
                                    vel[3 * i] = vO; vel[3 * i + 1] = vH1; vel[3 * i + 2] = vH2
                                    p += vO * Element.oxygen.mass + (vH1 + vH2) * Element.hydrogen.mass
                                }
                            }
                            mom[b] = p
                        }
                    }
                }
            }
        }

        if kT > 0 {
            var momentum = SIMD3<Double>.zero
            for p in blockMomentum { momentum += p }
            let vcom = momentum / (Double(n) * WaterBox.moleculeMass)
            // Remove the centre-of-mass velocity, measure the kinetic energy, rescale.
            var blockKinetic = [Double](repeating: 0, count: blocks)
            velocities.withUnsafeMutableBufferPointer { vel in
                blockKinetic.withUnsafeMutableBufferPointer { ke in
                    DispatchQueue.concurrentPerform(iterations: blocks) { b in
                        let lo = 3 * b * WaterBox.blockSize, hi = min(atoms, lo + 3 * WaterBox.blockSize)
                        var k = 0.0
                        for j in lo..<hi {
                            vel[j] -= vcom
                            let mass = j % 3 == 0 ? Element.oxygen.mass : Element.hydrogen.mass
                            k += mass * (vel[j] * vel[j]).sum()
                        }
                        ke[b] = k
                    }
                }
            }
            let twiceKinetic = blockKinetic.reduce(0, +) * Units.massVelocitySquared
            let dof = Double(max(1, 3 * atoms - 3))
            let current = twiceKinetic / (dof * Units.boltzmann)
            if current > 0 {
                let scale = (temperature / current).squareRoot()
                velocities.withUnsafeMutableBufferPointer { vel in
                    DispatchQueue.concurrentPerform(iterations: blocks) { b in
                        let lo = 3 * b * WaterBox.blockSize, hi = min(atoms, lo + 3 * WaterBox.blockSize)
                        for j in lo..<hi { vel[j] *= scale }
                    }
                }
            }
        }

        var species = [Int](repeating: 1, count: atoms)
        for i in 0..<n { species[3 * i] = 0 }
        return Configuration(elements: [.oxygen, .hydrogen], species: species, positions: positions,
                             velocities: velocities, box: Box(cubic: L), step: 0, time: 0)
    }

    /// A uniformly random rotation as its three matrix columns (Shoemake 1992: a unit
    /// quaternion from three uniforms).
    @inline(__always)
    static func randomRotation(_ rng: inout SplitMix64)
        -> (SIMD3<Double>, SIMD3<Double>, SIMD3<Double>) {
        let u1 = rng.nextUniform(), u2 = rng.nextUniform(), u3 = rng.nextUniform()
        let s1 = (1 - u1).squareRoot(), s2 = u1.squareRoot()
        let w = s1 * sin(2 * .pi * u2), x = s1 * cos(2 * .pi * u2)
        let y = s2 * sin(2 * .pi * u3), z = s2 * cos(2 * .pi * u3)
        let c0 = SIMD3(1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y))
        let c1 = SIMD3(2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x))
        let c2 = SIMD3(2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y))
        return (c0, c1, c2)
    }
}
