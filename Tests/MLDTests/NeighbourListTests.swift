import Foundation
import Testing
@testable import MLD

/// The Verlet neighbour list against a brute-force all-pairs search.
@Suite struct NeighbourListTests {
    /// Every row must be exactly {j != i : |r_ij| < radius + skin} at build time, split by
    /// species and ascending within each species.
    func checkExact(_ list: NeighbourList, _ c: Configuration, _ what: String) {
        let rl = list.radius + list.skin
        let S = list.speciesCount
        for i in 0..<c.count {
            for s in 0..<S {
                let got = Array(list.neighbours(of: i, species: s))
                var want: [Int32] = []
                for j in 0..<c.count where j != i && (S == 1 || c.species[j] == s) {
                    let d = c.box.displacement(from: c.positions[i], to: c.positions[j])
                    if (d * d).sum().squareRoot() < rl { want.append(Int32(j)) }
                }
                #expect(got == want, "\(what): atom \(i) species \(s)")
                if got != want { return }
            }
        }
    }

    @Test(arguments: [(300, 12.0), (3000, 25.0), (40, 9.0)])
    func randomConfigurationsMatchAllPairs(n: Int, edge: Double) {
        let c = DynamicsFixtures.randomConfiguration(n: n, box: Box(edge, edge * 1.1, edge * 0.9), seed: UInt64(n))
        for (radius, skin) in [(2.0, 0.5), (3.5, 0.4), (1.0, 0.0)] {
            var list = NeighbourList(radius: radius, skin: skin, speciesCount: 2, threads: 2)
            list.build(c.positions, box: c.box, species: c.species.map(Int32.init))
            checkExact(list, c, "n \(n) edge \(edge) radius \(radius)")
        }
    }

    @Test func smallBoxFallsBackToAllPairs() {
        let c = DynamicsFixtures.randomConfiguration(n: 60, box: Box(cubic: 8), seed: 7)
        var list = NeighbourList(radius: 3.5, skin: 0.4, speciesCount: 1)
        list.build(c.positions, box: c.box)
        #expect(list.usedAllPairs)
        checkExact(list, c, "small box")
    }

    @Test func realFramesMatchAllPairs() {
        let run = DynamicsFixtures.water
        for k in [0, 450, 899] {
            let c = run.frames[k]
            var list = NeighbourList(radius: 4.7, skin: 0.8, speciesCount: 2)
            list.build(c.positions, box: c.box, species: c.species.map(Int32.init))
            checkExact(list, c, "frame \(k)")
            // The same frame replicated 3x3x3 uses the cell list.
            var big = c
            big.box = Box(c.box.lengths * 3)
            big.positions = []
            big.species = []
            for x in 0..<3 { for y in 0..<3 { for z in 0..<3 {
                big.positions += c.positions.map { $0 + c.box.lengths * SIMD3(Double(x), Double(y), Double(z)) }
                big.species += c.species
            } } }
            var bigList = NeighbourList(radius: 4.7, skin: 0.8, speciesCount: 2, threads: 2)
            bigList.build(big.positions, box: big.box, species: big.species.map(Int32.init))
            #expect(!bigList.usedAllPairs)
            checkExact(bigList, big, "frame \(k) x27")
        }
    }

    /// After many small random moves (each below half the skin since the last build), the list
    /// still holds every pair within the radius; the rebuild decision is exactly the half-skin rule.
    @Test func staysCompleteUnderMotion() {
        var c = DynamicsFixtures.randomConfiguration(n: 1500, box: Box(cubic: 24), seed: 11)
        var rng = MLD.SplitMix64(seed: 3)
        let radius = 3.0, skin = 0.6
        var list = NeighbourList(radius: radius, skin: skin, speciesCount: 2, threads: 2)
        let sp = c.species.map(Int32.init)
        list.build(c.positions, box: c.box, species: sp)
        var rebuilds = 0
        for _ in 0..<200 {
            for i in 0..<c.count {
                let u = SIMD3(DynamicsFixtures.uniform(&rng), DynamicsFixtures.uniform(&rng), DynamicsFixtures.uniform(&rng))
                c.positions[i] += 0.04 * (u * 2 - 1)
            }
            // The rule: rebuild exactly when some atom moved more than skin/2.
            let moved = zip(c.positions, list.reference).map { (($0 - $1) * ($0 - $1)).sum().squareRoot() }.max()!
            #expect(list.needsRebuild(c.positions) == (moved > skin / 2))
            if list.needsRebuild(c.positions) {
                list.build(c.positions, box: c.box, species: sp)
                rebuilds += 1
            }
            for i in stride(from: 0, to: c.count, by: 37) {
                let row = Set(list.neighbours(of: i))
                for j in 0..<c.count where j != i {
                    let d = c.box.displacement(from: c.positions[i], to: c.positions[j])
                    if (d * d).sum() < radius * radius {
                        #expect(row.contains(Int32(j)), "atom \(i) lost neighbour \(j)")
                    }
                }
            }
        }
        #expect(rebuilds > 5 && rebuilds < 200)
    }
}

extension NeighbourListTests {
    /// Distance-ordered rows hold the same neighbours, ascending in their (rounded-down)
    /// build-time distance.
    @Test func distanceOrderedRowsHoldTheSameNeighbours() {
        let c = DynamicsFixtures.randomConfiguration(n: 2000, box: Box(cubic: 26), seed: 21)
        let sp = c.species.map(Int32.init)
        var plain = NeighbourList(radius: 3.2, skin: 1.0, speciesCount: 2, threads: 2)
        var sorted = NeighbourList(radius: 3.2, skin: 1.0, speciesCount: 2, threads: 2, orderByDistance: true)
        plain.build(c.positions, box: c.box, species: sp)
        sorted.build(c.positions, box: c.box, species: sp)
        #expect(sorted.offsets == plain.offsets)
        #expect(sorted.buildDistances.count == sorted.indices.count)
        for i in stride(from: 0, to: c.count, by: 13) {
            for s in 0..<2 {
                let a = plain.neighbours(of: i, species: s), b = sorted.neighbours(of: i, species: s)
                #expect(Set(a) == Set(b))
                let start = sorted.offsets[i * 2 + s]
                var last: Float = 0
                for (t, j) in b.enumerated() {
                    let r = sorted.buildDistances[start + t]
                    let d = c.box.displacement(from: c.positions[i], to: c.positions[Int(j)])
                    #expect(Double(r) <= (d * d).sum().squareRoot())
                    #expect(r >= last)
                    last = r
                }
            }
        }
    }
}
