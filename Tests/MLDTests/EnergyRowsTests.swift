import Foundation
import Testing
@testable import MLD

/// Energy rows in the conservative fit (`FitSettings.energyWeight`): planted models whose
/// forces and energies are known exactly.
@Suite struct EnergyRowsTests {
    /// A planted conservative nearest O:2,H:3 model (small W, so the joint problem is well posed).
    static func planted() -> LearnedModel {
        var m = ConservativeTests.conservative(.nearest(species: ["O", "H"], counts: [2, 3], searchRadius: 5.5), seed: 3)
        m.losses = m.losses.map { l in QuadraticLoss(w: l.w, W: l.W.map { 0.2 * $0 }) }
        return m
    }

    /// The first 60 CP2K frames with the planted forces and, as potential energies, `scale`
    /// times the planted U plus 123.4 eV.
    static func run(_ model: LearnedModel, energyScale scale: Double) throws -> CP2KRun {
        var run = DynamicsFixtures.water
        run.frames = Array(run.frames[0..<60])
        var energies: [CP2KEnergyRecord] = []
        for i in run.frames.indices {
            let r = try model.evaluate(run.frames[i])
            run.frames[i].forces = r.forces
            let u = r.losses.reduce(0, +)
            energies.append(CP2KEnergyRecord(step: run.frames[i].step!, time: 0, kinetic: 0, temperature: 0,
                                             potential: scale * u + 123.4, conserved: 0, usedTime: 0))
        }
        run.energies = energies
        return run
    }

    static func settings(weight: Double, ridge: Double? = 0) -> FitSettings {
        var s = FitSettings()
        s.agents = .conservative
        s.nearestCounts = ["O": 2, "H": 3]
        s.train = FrameRange(0, 45, stride: 3)
        s.test = FrameRange(45, 60, stride: 3)
        s.ridge = ridge
        s.sensitivity = false
        s.energyWeight = weight
        return s
    }

    /// Forces and energies of one model: recovered with and without energy rows, and U follows
    /// the energies up to the constant.
    @Test(arguments: [0.0, 1.0])
    func recoversAPlantedModel(weight: Double) throws {
        let planted = Self.planted()
        let (model, report) = try LossFitter.fit(run: try Self.run(planted, energyScale: 1), settings: Self.settings(weight: weight))
        for e in report.test { #expect(e.relRMSE < 1e-6, "W \(weight), \(e.species): \(e.relRMSE)") }
        let e = try #require(report.energy)
        #expect(e.weight == weight)
        print("planted, W \(weight): energy train RMSE \(e.trainRMSE), test RMSE \(e.testRMSE) meV/atom, spread \(e.testSpread)")
        #expect(e.testRMSE < 1e-6 && e.trainRMSE < 1e-6)
        #expect(e.testSpread > 1e-3)
        #expect(model.agents == .conservative)
    }

    /// The ridge chosen by validation on training blocks, with energy rows (the joint system has
    /// one more column, the offset; the validation scores the held-out forces).
    @Test func ridgeByValidationWithEnergyRows() throws {
        let (_, report) = try LossFitter.fit(run: try Self.run(Self.planted(), energyScale: 1),
                                             settings: Self.settings(weight: 1, ridge: nil))
        #expect(report.ridgeChosenByValidation)
        #expect(!report.ridgeTrials.isEmpty)
        for e in report.test { #expect(e.relRMSE < 1e-4, "\(e.species): \(e.relRMSE)") }
        #expect(try #require(report.energy).testRMSE < 1e-2)
    }

    /// Energies that no model with these forces matches (twice the planted U): with a heavy
    /// weight the fit trades force error for energy error, without energy rows it does not.
    @Test func weightTradesForcesForEnergies() throws {
        let run = try Self.run(Self.planted(), energyScale: 2)
        let off = try LossFitter.fit(run: run, settings: Self.settings(weight: 0)).report
        let heavy = try LossFitter.fit(run: run, settings: Self.settings(weight: 1e6)).report
        let eOff = try #require(off.energy), eHeavy = try #require(heavy.energy)
        print("U doubled: W 0: force train rel_RMSE \(off.train.map(\.relRMSE)), energy train RMSE \(eOff.trainRMSE) meV/atom; W 1e6: \(heavy.train.map(\.relRMSE)), \(eHeavy.trainRMSE)")
        for e in off.train { #expect(e.relRMSE < 1e-6) }
        #expect(eOff.trainRMSE > 1e-3)
        #expect(eHeavy.trainRMSE < 0.01 * eOff.trainRMSE)
        #expect(heavy.train.map(\.relRMSE).max()! > 1e-5)
    }

    /// Bad weights and missing energies: one line each.
    @Test func refusals() throws {
        let run = try Self.run(Self.planted(), energyScale: 1)
        for w in [-1.0, .nan, .infinity] {
            #expect(throws: MLDError.usage("--energy-weight must be a finite number >= 0 (got \(w))")) {
                _ = try LossFitter.fit(run: run, settings: Self.settings(weight: w))
            }
        }
        var selfish = Self.settings(weight: 1)
        selfish.agents = .selfish
        #expect(throws: MLDError.usage("--energy-weight needs --agents conservative (selfish agents have no potential energy to fit)")) {
            _ = try LossFitter.fit(run: run, settings: selfish)
        }
        var partial = run
        partial.energies.removeAll { $0.step == run.frames[6].step }
        do {
            _ = try LossFitter.fit(run: partial, settings: Self.settings(weight: 1))
            Issue.record("a training frame without energy was accepted")
        } catch let e as MLDError {
            #expect("\(e)".contains("training frame 6 (step \(run.frames[6].step!)) has no potential energy"), "\(e)")
            #expect(!"\(e)".contains("\n"))
        }
        // Without energy rows a missing energy only drops the energy report.
        #expect(try LossFitter.fit(run: partial, settings: Self.settings(weight: 0)).report.energy == nil)
    }
}
