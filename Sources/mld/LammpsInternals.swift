import MLD

/// The two numbers mld must check that the C interface of LAMMPS 29 Sep 2021 does not give:
/// the ghost-atom cutoff (`Comm::cutghost`, the `comm_modify cutoff` or the neighbour cutoff,
/// whichever is longer, set when a run starts) and the neighbour skin (`Neighbor::skin`), with
/// whether neighbour lists are rebuilt on displacement (`Neighbor::dist_check`).
///
/// They are read from LAMMPS's C++ objects at the byte offsets of Debian's build of that version
/// (x86-64 and other LP64 ABIs), printed by `scripts/lammps-layout.cpp`. Before trusting them, mld
/// checks the library's version and that `Comm::me` and `Comm::nprocs` at their offsets equal
/// the rank and size the C interface reports; any other layout is refused in one line.
struct LammpsInternals {
    /// The LAMMPS version (`lammps_version`) whose layout these offsets are.
    static let layoutVersion: Int32 = 20210929
    // Offsets in bytes (scripts/lammps-layout.cpp on Debian 12's liblammps-dev).
    static let lammpsNeighbor = 48, lammpsComm = 56
    static let neighborEvery = 188, neighborDelay = 192, neighborDistCheck = 196, neighborSkin = 224
    static let commMe = 196, commNprocs = 200, commCutghost = 208

    private let comm: UnsafeRawPointer
    private let neighbor: UnsafeRawPointer

    /// - Throws: `MLDError.usage` when the library is another version or the objects do not
    ///   match the layout.
    init(handle: UnsafeMutableRawPointer, library: LammpsLibrary, rank: Int32, size: Int32) throws {
        let v = library.version(handle)
        guard v == LammpsInternals.layoutVersion else {
            throw MLDError.usage("\(library.path) is LAMMPS \(v); mld lammps reads the ghost cutoff and neighbour skin of LAMMPS \(LammpsInternals.layoutVersion) (Debian 12's) only")
        }
        let base = UnsafeRawPointer(handle)
        guard let c = base.load(fromByteOffset: LammpsInternals.lammpsComm, as: UnsafeRawPointer?.self),
              let n = base.load(fromByteOffset: LammpsInternals.lammpsNeighbor, as: UnsafeRawPointer?.self) else {
            throw MLDError.usage("\(library.path): LAMMPS has no Comm or Neighbor object where mld expects it")
        }
        let me = c.load(fromByteOffset: LammpsInternals.commMe, as: Int32.self)
        let nprocs = c.load(fromByteOffset: LammpsInternals.commNprocs, as: Int32.self)
        guard me == rank, nprocs == size else {
            throw MLDError.usage("\(library.path): LAMMPS's Comm object does not have the layout mld knows (rank \(me) of \(nprocs) read, \(rank) of \(size) expected)")
        }
        comm = c
        neighbor = n
    }

    /// The ghost cutoff in Å along x, y and z (an orthogonal box), set when a run starts.
    var ghostCutoff: SIMD3<Double> {
        SIMD3(comm.load(fromByteOffset: LammpsInternals.commCutghost, as: Double.self),
              comm.load(fromByteOffset: LammpsInternals.commCutghost + 8, as: Double.self),
              comm.load(fromByteOffset: LammpsInternals.commCutghost + 16, as: Double.self))
    }

    /// The neighbour skin in Å (`neighbor` command).
    var skin: Double { neighbor.load(fromByteOffset: LammpsInternals.neighborSkin, as: Double.self) }

    /// Whether lists (and ghosts) are rebuilt once some atom moved half the skin
    /// (`neigh_modify check yes`).
    var checksDistance: Bool { neighbor.load(fromByteOffset: LammpsInternals.neighborDistCheck, as: Int32.self) != 0 }
}
