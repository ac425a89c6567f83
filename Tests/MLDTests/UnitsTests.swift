import Testing
@testable import MLD

@Suite struct UnitsTests {
    @Test func conversionsAgainstKnownValues() {
        // CODATA 2018 (the data README quotes 51.42208619, an older value: 3.6e-7 relative).
        #expect(abs(Units.hartreePerBohr - 51.422067476) < 1e-8)   // Ha/Bohr in eV/Å
        #expect(abs(Units.bohrPerAtomicTime - 21.876912636) < 1e-6)     // Bohr/a.u.t. in Å/fs
        #expect(abs(Units.massVelocitySquared - 103.642696562) < 1e-6)  // u Å²/fs² in eV
        // ASE uses CODATA 2014 constants: 4e-9 relative difference.
        #expect(abs(ExtendedXYZ.aseTimeUnit - 10.180505671156725) < 1e-7) // ASE time unit in fs
        // kT at 300 K is 25.85 meV.
        #expect(abs(Units.boltzmann * 300 - 0.025852) < 1e-6)
    }

    @Test func minimumImage() {
        let box = Box(10, 12, 14)
        let d = box.displacement(from: SIMD3(0.5, 0.5, 0.5), to: SIMD3(9.5, 11.5, 7.4))
        #expect(abs(d.x - -1.0) < 1e-12 && abs(d.y - -1.0) < 1e-12 && abs(d.z - 6.9) < 1e-12)
        let w = box.wrap(SIMD3(-0.5, 25.0, 14.0))
        #expect(abs(w.x - 9.5) < 1e-12 && abs(w.y - 1.0) < 1e-12 && w.z == 0)
    }

    /// The four-lane separation of the hot loops (`separation` with `lanes4(lengths:)`, positions
    /// read with their padding lane by `lanes4`) gives the three-lane minimum image bit for bit,
    /// whatever the padding holds (here NaN, infinity or a huge number), wherever d / L is not
    /// within rounding of a half-integer (where the two forms may pick the other image, both
    /// half a box away).
    @Test(arguments: [Double.nan, .infinity, 1e300])
    func fourLaneSeparationIsTheMinimumImage(padding: Double) {
        let lengths = SIMD3<Double>(12.4138, 9.87, 31.0)
        let (lengths4, inverse4) = lanes4(lengths: lengths)
        var rng = SplitMix64(seed: 7)
        let n = 2000
        // positions with a garbage fourth lane, read through a SIMD3 view like an atom array
        let raw = UnsafeMutablePointer<SIMD4<Double>>.allocate(capacity: n)
        defer { raw.deallocate() }
        for i in 0..<n {
            let u = SIMD3(rng.nextUniform(), rng.nextUniform(), rng.nextUniform())
            // inside the box and up to two boxes out, as unwrapped positions are
            raw[i] = SIMD4((u * 5 - 2) * lengths, padding)
        }
        let positions = UnsafeRawPointer(raw).assumingMemoryBound(to: SIMD3<Double>.self)
        #expect(MemoryLayout<SIMD3<Double>>.stride == MemoryLayout<SIMD4<Double>>.stride)
        var compared = 0
        for i in 0..<n {
            let j = (i * 7 + 3) % n
            let q = lanes4(positions, i)
            let (d, r2) = separation(lanes4(positions, j), from: q, lengths: lengths4, inverseLengths: inverse4)
            let p = SIMD3(raw[j].x, raw[j].y, raw[j].z) - SIMD3(raw[i].x, raw[i].y, raw[i].z)
            let ratio = p / lengths
            let nearHalf = (0..<3).contains { abs(abs(ratio[$0] - ratio[$0].rounded(.down)) - 0.5) < 1e-9 }
            if nearHalf { continue }
            let m = MLD.minimumImage(p, lengths: lengths)
            #expect(d.x == m.x && d.y == m.y && d.z == m.z, "pair \(i), \(j)")
            #expect(r2 == (m * m).sum(), "pair \(i), \(j)")
            #expect(r2.isFinite)
            compared += 1
        }
        #expect(compared > n - 10)
    }
}
