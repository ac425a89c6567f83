import Foundation
import MLD

/// What fix external's callback does on one rank: checks that LAMMPS's state suits the model
/// (units, atom types, ghost cutoff, box), then computes the learned forces of the rank's own
/// atoms from its own and ghost atoms with `DomainForces` and hands them to LAMMPS.
///
/// Forces are written in the script's units (`LammpsUnits`); the sum of all agents' losses (each
/// rank's, summed over the ranks) is the fix's global energy (`fix_modify mld energy yes` adds it to LAMMPS's pe; for
/// conservative models it is the potential energy U). No virial is given: LAMMPS's pressure
/// lacks mld's part.
final class LammpsForceField {
    private unowned let session: LammpsSession
    private let library: LammpsLibrary
    private let handle: UnsafeMutableRawPointer
    private let model: LearnedModel
    private let modelPath: String
    private let scriptPath: String
    private let internals: LammpsInternals
    private let typeSymbols: String?
    private let domain: DomainForces
    private var units: LammpsUnits?
    private var typeMap: LammpsTypeMap?
    private var positions: [SIMD3<Double>] = []
    private var species: [Int32] = []
    private var result: [SIMD3<Double>] = []

    init(session: LammpsSession, library: LammpsLibrary, handle: UnsafeMutableRawPointer, model: LearnedModel,
         modelPath: String, scriptPath: String, internals: LammpsInternals, types: String?, threads: Int) {
        self.session = session
        self.library = library
        self.handle = handle
        self.model = model
        self.modelPath = modelPath
        self.scriptPath = scriptPath
        self.internals = internals
        self.typeSymbols = types
        self.domain = DomainForces(model: model, threads: threads)
    }

    /// Checks that are the same on every rank; a failure is said by rank 0 and ends every rank.
    private func checkSetup() throws {
        if units == nil {
            let name = library.extractGlobal(handle, "units").map { String(cString: $0.assumingMemoryBound(to: CChar.self)) } ?? "?"
            guard let u = LammpsUnits(lammps: name) else {
                throw MLDError.input(file: scriptPath, line: nil, problem: "units \(name): mld lammps gives forces in units real or metal only")
            }
            units = u
        }
        if library.extractGlobal(handle, "triclinic").map({ $0.load(as: Int32.self) }) ?? 0 != 0 {
            throw MLDError.input(file: scriptPath, line: nil, problem: "the box is triclinic: mld lammps needs an orthogonal box")
        }
        let ntypes = Int(library.extractSetting(handle, "ntypes"))
        if typeMap?.species.count != ntypes {
            if let typeSymbols {
                typeMap = try LammpsTypeMap(symbols: typeSymbols, types: ntypes, model: model.species)
            } else {
                guard library.extractSetting(handle, "rmass_flag") == 0,
                      let m = library.extractAtom(handle, "mass")?.assumingMemoryBound(to: Double.self) else {
                    throw MLDError.input(file: scriptPath, line: nil, problem: "the atoms have no per-type masses to map them to species by: give --types")
                }
                typeMap = try LammpsTypeMap(masses: (1...max(ntypes, 1)).prefix(ntypes).map { m[$0] }, model: model.species)
            }
        }
        // Ghosts must reach ghostReach beyond the domain while atoms move up to half the skin each.
        let cut = internals.ghostCutoff.min()
        let skin = internals.skin
        let need = domain.ghostReach + skin
        let reach = model.agents == .conservative
            ? String(format: "twice the model's range (2 x %.4g Å, conservative agents)", domain.range)
            : String(format: "the model's range %.4g Å", domain.range)
        if cut < need - 1e-12 {
            throw MLDError.input(file: scriptPath, line: nil, problem: String(
                format: "the ghost cutoff %.4g Å is shorter than %@ plus the neighbor skin %.4g Å: set `comm_modify cutoff %.4g` or more",
                cut, reach, skin, (need * 1e4).rounded(.up) / 1e4))
        }
        if !internals.checksDistance {
            throw MLDError.input(file: scriptPath, line: nil, problem: "`neigh_modify check no`: ghosts are only complete while LAMMPS rebuilds them once an atom moved half the skin (check yes)")
        }
        // A periodic edge shorter than twice the range would put an atom's own image in its neighbourhood.
        if let lo = library.extractGlobal(handle, "boxlo")?.assumingMemoryBound(to: Double.self),
           let hi = library.extractGlobal(handle, "boxhi")?.assumingMemoryBound(to: Double.self),
           let periodic = library.extractGlobal(handle, "periodicity")?.assumingMemoryBound(to: Int32.self) {
            for d in 0..<3 where periodic[d] != 0 && hi[d] - lo[d] < 2 * domain.range {
                throw MLDError.input(file: scriptPath, line: nil, problem: String(
                    format: "the periodic box edge %.4g Å is shorter than twice the model's range %.4g Å", hi[d] - lo[d], domain.range))
            }
        }
    }

    /// The callback's work: forces into `f` (LAMMPS units), the rank's loss sum as the fix's energy.
    func apply(step: Int64, nlocal: Int, x: UnsafeMutablePointer<UnsafeMutablePointer<Double>?>?,
               f: UnsafeMutablePointer<UnsafeMutablePointer<Double>?>?) {
        do { try checkSetup() } catch { session.fail("\(error)") }
        let nghost = Int(library.extractSetting(handle, "nghost"))
        let n = nlocal + nghost
        var failure: String?
        var rankLoss = 0.0
        do {
            guard let x, let type = library.extractAtom(handle, "type")?.assumingMemoryBound(to: Int32.self) else {
                throw MLDError.backend("LAMMPS gave no positions or atom types")
            }
            let map = typeMap!.species
            if positions.count != n {
                positions = [SIMD3<Double>](repeating: .zero, count: n)
                species = [Int32](repeating: 0, count: n)
            }
            for i in 0..<n {
                let r = x[i]!
                positions[i] = SIMD3(r[0], r[1], r[2])
                let t = Int(type[i])
                guard t >= 1 && t <= map.count else { throw MLDError.backend("atom \(i) has type \(t), not 1...\(map.count)") }
                species[i] = map[t - 1]
            }
            let loss = try positions.withUnsafeBufferPointer { p in
                try species.withUnsafeBufferPointer { s in
                    try domain.compute(positions: p, species: s, owned: nlocal, forces: &result)
                }
            }
            let scale = units!.energyPerEV
            if let f {
                for i in 0..<nlocal {
                    let row = f[i]!
                    row[0] = result[i].x * scale; row[1] = result[i].y * scale; row[2] = result[i].z * scale
                }
            }
            rankLoss = loss * scale
        } catch {
            failure = "step \(step), rank \(session.rank): \(error)"
        }
        session.agree(failed: failure)
        // fix external's energy is global: every rank gives the total.
        if let total = session.total(rankLoss) { library.setEnergy(handle, LammpsScript.fixID, total) }
    }
}
