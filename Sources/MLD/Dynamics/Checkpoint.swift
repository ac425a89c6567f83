import Foundation

/// Everything needed to continue a run exactly where it stopped: positions, velocities and
/// forces (bit for bit), thermostat state, step, random generator state, running statistics, and
/// the sizes of the trajectory and thermo files at that step (so a resumed run cuts off anything
/// written after the checkpoint and appends with no duplicated or missing step).
///
/// Binary format, little endian: the 8 bytes `MLDCKPT1`, a UInt64 byte count and that many bytes
/// of JSON (`Header`), then the Float64 blocks: box (3), centre-of-mass reference (3),
/// wall seconds (1), statistics (9), thermostat state (`thermostatCount`), positions, velocities
/// and forces (3N each). Written atomically (temporary name, then rename).
///
/// Version 2 adds `thermostat` to the header (the thermostat's name, `Thermostat.name`; a run is
/// only continued with the same thermostat). The stochastic thermostats' state holds their random
/// generator's (see `Thermostat.state`). Version 1 files (Nose-Hoover or none) are still read.
///
/// Version 3 ends the file with 64 ASCII hex digits, the SHA-256 of every byte before them, so a
/// damaged checkpoint (a flipped bit anywhere) is refused; and its header holds the SHA-256 of
/// the first `trajectoryBytes` of trajectory.xyz and `thermoBytes` of thermo.csv, which a resume
/// checks before it cuts the files back. Versions 1 and 2 (no checksum) are still read.
///
/// Version 4, written by runs that write trajectory.nc (`TrajectoryFormat`), adds to the header
/// the frames of trajectory.nc, its byte size and the SHA-256 of its frames' numbers
/// (`AmberNetCDF.Frame.digest`) at that step; other runs still write version 3, so that an mld
/// without trajectory.nc refuses only the checkpoints it could not continue.
public struct Checkpoint: Equatable {
    public struct Header: Codable, Equatable {
        public var version = Checkpoint.version
        public var step: Int
        public var atoms: Int
        public var elements: [String]
        public var masses: [Double]
        public var species: [Int]
        /// Random generator state (decimal UInt64).
        public var rngState: String
        public var thermostatCount: Int
        /// The thermostat's name (`Thermostat.name`); nil in version 1.
        public var thermostat: String?
        /// Byte sizes of trajectory.xyz and thermo.csv at this step.
        public var trajectoryBytes: UInt64
        public var thermoBytes: UInt64
        /// `Simulation.energyLedger` as bit patterns (decimal UInt64); absent in older checkpoints.
        public var energyLedger: [String]? = nil
        /// SHA-256 of the first `trajectoryBytes` of trajectory.xyz and `thermoBytes` of
        /// thermo.csv; absent before version 3.
        public var trajectorySHA256: String? = nil
        public var thermoSHA256: String? = nil
        /// Frames in trajectory.nc, its byte size, and the SHA-256 of its frames; absent before
        /// version 4 and for runs that write no trajectory.nc.
        public var netcdfFrames: Int? = nil
        public var netcdfBytes: UInt64? = nil
        public var netcdfSHA256: String? = nil
    }

    public var step: Int
    public var elements: [Element]
    public var species: [Int]
    public var box: Box
    public var positions: [SIMD3<Double>]
    public var velocities: [SIMD3<Double>]
    public var forces: [SIMD3<Double>]
    public var thermostatState: [Double]
    /// The thermostat's name (`Thermostat.name`); nil from a version-1 file.
    public var thermostat: String?
    public var rngState: UInt64
    public var centreOfMass: SIMD3<Double>
    public var statistics: RunStatistics
    /// Wall seconds the run had taken up to this step.
    public var wallSeconds: Double
    public var trajectoryBytes: UInt64
    public var thermoBytes: UInt64
    /// The simulation's work and starting potential (`Simulation.energyLedger`), eV.
    public var energyLedger: [Double] = []
    /// SHA-256 of the data files up to `trajectoryBytes` and `thermoBytes` (nil from a file
    /// older than version 3).
    public var trajectorySHA256: String?
    public var thermoSHA256: String?
    /// Frames in trajectory.nc at this step, its size in bytes and the SHA-256 of the numbers in
    /// those frames (`AmberNetCDF.Frame.digest`); nil for a run that writes no trajectory.nc.
    public var netcdfFrames: Int?
    public var netcdfBytes: UInt64?
    public var netcdfSHA256: String?

    static let magic = Array("MLDCKPT1".utf8)
    /// The newest format version written (4, with trajectory.nc; 3 otherwise); versions 1 to 4
    /// are read.
    public static let version = 4
    /// The version of this checkpoint's file.
    var fileVersion: Int { netcdfFrames == nil ? 3 : 4 }
    /// Length of the version-3 checksum trailer (hex digits).
    static let checksumLength = 64

    public init(simulation s: Simulation, rngState: UInt64, wallSeconds: Double,
                trajectoryBytes: UInt64, thermoBytes: UInt64,
                trajectorySHA256: String? = nil, thermoSHA256: String? = nil) {
        step = s.step
        elements = s.elements
        species = s.species
        box = s.box
        positions = s.positions
        velocities = s.velocities
        forces = s.forces
        thermostatState = s.thermostat.state
        thermostat = s.thermostat.name
        self.rngState = rngState
        centreOfMass = s.centreOfMassReference
        statistics = s.statistics
        self.wallSeconds = wallSeconds
        self.trajectoryBytes = trajectoryBytes
        self.thermoBytes = thermoBytes
        energyLedger = s.energyLedger
        self.trajectorySHA256 = trajectorySHA256
        self.thermoSHA256 = thermoSHA256
    }

    /// The bytes of the file.
    public func encoded() throws -> Data {
        let header = Header(version: fileVersion, step: step, atoms: positions.count, elements: elements.map(\.symbol),
                            masses: elements.map(\.mass), species: species, rngState: String(rngState),
                            thermostatCount: thermostatState.count, thermostat: thermostat, trajectoryBytes: trajectoryBytes,
                            thermoBytes: thermoBytes, energyLedger: energyLedger.map { String($0.bitPattern) },
                            trajectorySHA256: trajectorySHA256, thermoSHA256: thermoSHA256,
                            netcdfFrames: netcdfFrames, netcdfBytes: netcdfBytes, netcdfSHA256: netcdfSHA256)
        let json = try JSONEncoder().encode(header)
        var out = Data(Self.magic)
        func put(_ u: UInt64) { withUnsafeBytes(of: u.littleEndian) { out.append(contentsOf: $0) } }
        func put(_ x: Double) { put(x.bitPattern) }
        func put(_ v: SIMD3<Double>) { put(v.x); put(v.y); put(v.z) }
        put(UInt64(json.count))
        out.append(json)
        put(box.lengths)
        put(centreOfMass)
        put(wallSeconds)
        for x in statistics.values { put(x) }
        for x in thermostatState { put(x) }
        for v in positions { put(v) }
        for v in velocities { put(v) }
        for v in forces { put(v) }
        out.append(contentsOf: Array(SHA256.hex(out).utf8))
        return out
    }

    /// Writes the checkpoint atomically.
    public func write(to path: String) throws { try AtomicFile.write(encoded(), to: path) }

    /// Reads a checkpoint file; a truncated, damaged (checksum) or foreign file is a clear error.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MLDError.input(file: path, line: nil, problem: "no checkpoint (the run never wrote one)")
        }
        var bytes = [UInt8](data)
        func bad(_ what: String) -> MLDError { .input(file: path, line: nil, problem: "not a valid checkpoint: \(what)") }
        guard bytes.count >= 16, Array(bytes[0..<8]) == Self.magic else { throw bad("wrong magic bytes") }
        var at = 8
        func u64() throws -> UInt64 {
            guard at + 8 <= bytes.count else { throw bad("truncated") }
            var u: UInt64 = 0
            for k in 0..<8 { u |= UInt64(bytes[at + k]) << (8 * UInt64(k)) }
            at += 8
            return u
        }
        func f64() throws -> Double { Double(bitPattern: try u64()) }
        func vec() throws -> SIMD3<Double> { SIMD3(try f64(), try f64(), try f64()) }
        let rawCount = try u64()
        guard rawCount <= UInt64(bytes.count - at) else { throw bad("truncated header") }
        let jsonCount = Int(rawCount)
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[at..<(at + jsonCount)]))
        } catch { throw bad("unreadable header (the file is damaged)") }
        guard (1...Self.version).contains(header.version) else {
            throw bad("format version \(header.version), this mld reads versions 1 to \(Self.version) (written by a newer mld?)")
        }
        at += jsonCount
        if header.version >= 3 {
            let n = Self.checksumLength
            guard bytes.count >= at + n else { throw bad("truncated (no checksum)") }
            let stored = String(decoding: bytes[(bytes.count - n)...], as: UTF8.self)
            bytes.removeLast(n)
            guard SHA256.hex(bytes) == stored else {
                throw bad("its SHA-256 checksum does not match its contents (the file is damaged)")
            }
        }
        let n = header.atoms
        // A step past Int.max / 2 could overflow when further steps are added to it.
        guard header.step >= 0, header.step <= Int.max / 2, n >= 0, n <= bytes.count, header.thermostatCount >= 0, header.thermostatCount <= bytes.count,
              header.species.count == n, header.elements.count == header.masses.count,
              header.masses.allSatisfy({ $0 > 0 && $0.isFinite }),
              header.species.allSatisfy({ $0 >= 0 && $0 < header.elements.count }),
              let rng = UInt64(header.rngState) else { throw bad("inconsistent header") }
        guard bytes.count - at == 8 * (3 + 3 + 1 + 9 + header.thermostatCount + 9 * n) else {
            throw bad("\(bytes.count) bytes, not the size its header implies")
        }
        step = header.step
        elements = zip(header.elements, header.masses).map { Element(symbol: $0, mass: $1) }
        species = header.species
        rngState = rng
        trajectoryBytes = header.trajectoryBytes
        thermoBytes = header.thermoBytes
        trajectorySHA256 = header.trajectorySHA256
        thermoSHA256 = header.thermoSHA256
        if header.version >= 4, let frames = header.netcdfFrames {
            guard frames >= 0, header.netcdfBytes != nil, let digest = header.netcdfSHA256, digest.utf8.count == 64 else {
                throw bad("inconsistent trajectory.nc record")
            }
            netcdfFrames = frames
            netcdfBytes = header.netcdfBytes
            netcdfSHA256 = digest
        }
        energyLedger = try (header.energyLedger ?? []).map {
            guard let u = UInt64($0) else { throw bad("unreadable energy ledger") }
            return Double(bitPattern: u)
        }
        box = Box(try vec())
        centreOfMass = try vec()
        wallSeconds = try f64()
        statistics = RunStatistics(values: try (0..<9).map { _ in try f64() })!
        thermostatState = try (0..<header.thermostatCount).map { _ in try f64() }
        thermostat = header.thermostat
        positions = try (0..<n).map { _ in try vec() }
        velocities = try (0..<n).map { _ in try vec() }
        forces = try (0..<n).map { _ in try vec() }
        // A checksum guards against damage, not against a state no run can have.
        if let problem = box.edgeProblem { throw bad("box: \(problem)") }
        func finite(_ v: SIMD3<Double>) -> Bool { v.x.isFinite && v.y.isFinite && v.z.isFinite }
        guard finite(centreOfMass), positions.allSatisfy(finite), velocities.allSatisfy(finite), forces.allSatisfy(finite) else {
            throw bad("a position, velocity or force is not a finite number")
        }
    }
}

extension Simulation {
    /// The simulation a checkpoint holds, continued with `backend` and `settings` (those of the
    /// run that wrote it).
    public convenience init(checkpoint ck: Checkpoint, backend: any ForceBackend,
                            settings: SimulationSettings) throws {
        let wanted = Thermostat.name(for: settings)
        if let had = ck.thermostat, had != wanted {
            throw MLDError.usage("the checkpoint was written with the \(had) thermostat but the run's settings ask for \(wanted); a run continues with the thermostat it started with")
        }
        try self.init(elements: ck.elements, species: ck.species, box: ck.box, positions: ck.positions,
                      velocities: ck.velocities, forces: ck.forces, step: ck.step,
                      thermostatState: ck.thermostatState, centreOfMass: ck.centreOfMass,
                      statistics: ck.statistics, backend: backend, settings: settings)
        if ck.energyLedger.count == 2 { energyLedger = ck.energyLedger }
    }
}
