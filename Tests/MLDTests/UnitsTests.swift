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
}
