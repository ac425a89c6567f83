import Foundation
import Testing
@testable import MLD

/// Boxes whose atoms split into fewer blocks than there are threads (a 16-core machine and a
/// 132-atom box: the last blocks hold no atoms) build their lists and evaluate their agents as
/// on one thread, bit for bit.
@Suite struct ManyThreadsFewAtomsTests {
    @Test func moreThreadsThanAtomsPerBlock() throws {
        let c = try WaterBox(molecules: 44).build()
        let model = MixedPrecisionTests.defaultModel
        let sp = try model.speciesIndices(elements: c.elements, species: c.species)
        var one = NeighbourList(radius: 4.0, skin: 1.0, speciesCount: 2, threads: 1, orderByDistance: true)
        var many = NeighbourList(radius: 4.0, skin: 1.0, speciesCount: 2, threads: 16, orderByDistance: true)
        one.build(c.positions, box: c.box, species: sp)
        many.build(c.positions, box: c.box, species: sp)
        #expect(one.indices == many.indices && one.offsets == many.offsets && one.identityRanks == many.identityRanks)
        let species = sp.map(Int.init)
        for precision in [CPUPrecision.double, .mixed] {
            let (_, f1, l1) = try MixedPrecisionTests.forces(model, c.positions, species: species, box: c.box,
                                                             precision: precision, threads: 1)
            let (_, f16, l16) = try MixedPrecisionTests.forces(model, c.positions, species: species, box: c.box,
                                                               precision: precision, threads: 16)
            #expect(f1 == f16 && l1 == l16)
        }
    }
}
