import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `run.json` holds: the settings, where the run started, the model, the backend, progress,
/// timings and the summary. Rewritten (atomically) at every checkpoint and at the end.
public struct RunRecord: Codable, Sendable {
    public struct Model: Codable, Sendable {
        /// The model file as given, and its SHA-256 (hex).
        public var path: String
        public var sha256: String
        public init(path: String, sha256: String) { self.path = path; self.sha256 = sha256 }
    }
    public struct Start: Codable, Sendable {
        /// A CP2K directory or an extended-XYZ file.
        public var source: String
        /// Frame index used (CP2K: among its frames; XYZ: among the file's frames).
        public var frame: Int
        /// Where the velocities came from ("file", or "Maxwell-Boltzmann 300 K seed 1").
        public var velocities: String
        public init(source: String, frame: Int, velocities: String) {
            self.source = source; self.frame = frame; self.velocities = velocities
        }
    }
    public struct Timings: Codable, Sendable {
        public var wallSeconds = 0.0
        public var forceSeconds = 0.0
        public var stepsPerSecond = 0.0
        public var atomStepsPerSecond = 0.0
        public var nsPerDay = 0.0
        public var neighbourListBuilds = 0
        /// Wall seconds spent writing trajectory.xyz frames (formatting, digest, write) and
        /// trajectory.nc frames (conversion to floats, digest, write), summed over the run's
        /// segments; absent in older run.json files and for a file the run does not write.
        public var xyzWriteSeconds: Double?
        public var netcdfWriteSeconds: Double?
    }
    public struct Summary: Codable, Sendable {
        /// Mean and standard deviation of the instantaneous temperature over the steps, in K.
        public var meanTemperature = 0.0
        public var temperatureStd = 0.0
        /// The canonical standard deviation T sqrt(2 / N_dof), in K.
        public var canonicalTemperatureStd = 0.0
        /// O-H bond (each H to its nearest O) over the reported frames, in Å.
        public var meanOHBond: Double?
        public var stdOHBond: Double?
        public var minOHBond: Double?
        public var maxOHBond: Double?
        /// Centre-of-mass displacement from the start, in Å.
        public var centreOfMassDrift = 0.0
        /// Mean |net force| per atom before centre-of-mass removal, in eV/Å.
        public var meanNetForcePerAtom = 0.0
        /// Final thermostat energy (Nose-Hoover extended energy; CSVR/Langevin heat taken out), in eV.
        public var thermostatEnergy = 0.0
        /// Fraction of agents whose invariants lie outside the model's training range, in the
        /// last frame (nil where not measured).
        public var outOfRangeLastFrame: Double?
    }
    /// One `mld run` invocation (the first, then one per resume).
    public struct Segment: Codable, Sendable {
        public var firstStep: Int
        public var lastStep: Int
        public var wallSeconds: Double
        public var backend: String
        public var device: String
    }

    public var version = 1
    public var settings: SimulationSettings
    public var model: Model
    public var start: Start
    public var backend: String
    public var device: String
    public var atoms: Int
    public var elements: [String]
    public var degreesOfFreedom: Double
    /// The step the run is meant to reach.
    public var targetSteps: Int
    /// The last step written and checkpointed.
    public var stepsDone: Int = 0
    /// "running", "completed", "interrupted at step N (SIGINT)", or "failed: ...".
    public var status: String = "running"
    public var timings = Timings()
    public var summary = Summary()
    public var segments: [Segment] = []
    /// The trajectory files the run writes (`--trajectory-format`); absent in run.json files
    /// older than trajectory.nc, which wrote trajectory.xyz only.
    public var trajectoryFormat: TrajectoryFormat?

    public init(settings: SimulationSettings, model: Model, start: Start, backend: String, device: String,
                atoms: Int, elements: [String], degreesOfFreedom: Double, targetSteps: Int,
                trajectoryFormat: TrajectoryFormat = .xyz) {
        self.trajectoryFormat = trajectoryFormat
        self.settings = settings
        self.model = model
        self.start = start
        self.backend = backend
        self.device = device
        self.atoms = atoms
        self.elements = elements
        self.degreesOfFreedom = degreesOfFreedom
        self.targetSteps = targetSteps
    }
}

/// The trajectory files of a run: `trajectory.xyz` (extended XYZ text), `trajectory.nc` (AMBER
/// NetCDF, `AmberNetCDF`: positions and velocities as floats, about 24 bytes per atom and frame),
/// or both, holding the same frames.
public enum TrajectoryFormat: String, Codable, Sendable, CaseIterable {
    case xyz, netcdf, both

    /// Whether the run writes trajectory.xyz, and trajectory.nc.
    public var writesXYZ: Bool { self != .netcdf }
    public var writesNetCDF: Bool { self != .xyz }
    /// The file names written, in the order xyz, nc.
    public var fileNames: [String] {
        (writesXYZ ? [RunDirectory.xyzFileName] : []) + (writesNetCDF ? [RunDirectory.netcdfFileName] : [])
    }
}

extension RunRecord {
    /// The trajectory files the run writes (xyz for a run.json that does not say).
    public var trajectoryFiles: TrajectoryFormat { trajectoryFormat ?? .xyz }

    /// run.json's encoder and decoder. A run that blew up can hold non-finite numbers (a
    /// centre of mass at NaN); they are written as the strings "inf", "-inf" and "nan" so that
    /// the record still reaches its final status instead of failing to encode.
    public static var encoder: JSONEncoder {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return enc
    }
    public static var decoder: JSONDecoder {
        let dec = JSONDecoder()
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return dec
    }
}

/// Asks a running simulation to stop after its current step (set from a signal handler's queue).
public final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var why: String?
    /// Stop once this step is reached (nil: only on request).
    public let atStep: Int?
    public init(atStep: Int? = nil) { self.atStep = atStep }
    public func request(_ reason: String) { lock.lock(); if why == nil { why = reason }; lock.unlock() }
    public var reason: String? { lock.lock(); defer { lock.unlock() }; return why }
    /// The reason to stop at `step`, if any.
    public func reason(at step: Int) -> String? {
        if let r = reason { return r }
        if let atStep, step >= atStep { return "stop requested at step \(atStep)" }
        return nil
    }
}

/// An exclusive lock on a run directory: `flock` on its `.lock` file, held while the run
/// directory is open for writing and released when this is freed (or the process ends). The
/// `.lock` file is left in place (removing it would let two processes lock different files).
public final class RunDirectoryLock {
    public static let fileName = ".lock"
    private let fd: Int32

    /// Takes the lock of the run directory `dir` (which exists), or throws at once if another
    /// process (or another open run directory in this one) holds it.
    public init(_ dir: String) throws {
        let p = (dir as NSString).appendingPathComponent(Self.fileName)
        let fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw MLDError.output(file: p, problem: "cannot be opened to lock the run directory (\(String(cString: strerror(errno))))")
        }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            if e == EINTR { continue }
            close(fd)
            if e == EWOULDBLOCK {
                throw MLDError.usage("\(dir) is in use by another mld process (it holds the lock \(p)); wait for it to finish or stop it")
            }
            throw MLDError.output(file: p, problem: "cannot be locked (\(String(cString: strerror(e))))")
        }
        self.fd = fd
    }

    deinit { close(fd) }
}

/// The files of a run: the trajectory, appended every `every` steps (`trajectory.xyz`, extended
/// XYZ, and/or `trajectory.nc`, AMBER NetCDF: `RunRecord.trajectoryFormat`), `thermo.csv`,
/// `run.json` and `checkpoint.bin`, plus the loop that advances a simulation and writes them.
/// An open run directory holds its lock (`RunDirectoryLock`), so a second `mld` cannot write to
/// it at the same time.
public final class RunDirectory {
    public let path: String
    public var record: RunRecord
    private let lock: RunDirectoryLock
    /// trajectory.xyz; nil when the run writes trajectory.nc only.
    private let trajectory: FileHandle?
    private let thermo: FileHandle
    /// trajectory.nc; nil when the run writes trajectory.xyz only.
    private let netcdf: AmberNetCDFWriter?
    private var trajectoryBytes: UInt64
    private var thermoBytes: UInt64
    /// SHA-256 of everything in trajectory.xyz and thermo.csv (recorded in each checkpoint).
    private var trajectoryHash: SHA256.Hasher
    private var thermoHash: SHA256.Hasher
    /// SHA-256 of the frames in trajectory.nc (`AmberNetCDF.Frame.digest`; in each checkpoint).
    private var netcdfHash = SHA256.Hasher()
    /// Wall seconds of earlier segments.
    private var wallBefore: Double
    private var segmentStart: UInt64 = DispatchTime.now().uptimeNanoseconds
    private var firstStep: Int
    /// The random generator of the run (its state goes into checkpoints).
    public var rng: SplitMix64

    /// The names of the two trajectory files.
    public static let xyzFileName = "trajectory.xyz"
    public static let netcdfFileName = "trajectory.nc"
    public var trajectoryPath: String { file(Self.xyzFileName) }
    public var netcdfPath: String { file(Self.netcdfFileName) }
    public var thermoPath: String { file("thermo.csv") }
    public var recordPath: String { file("run.json") }
    public var checkpointPath: String { file("checkpoint.bin") }
    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// The thermo.csv header for these elements.
    public static func thermoHeader(elements: [String]) -> String {
        "step,time_fs,kinetic_eV,temperature_K," + elements.map { "loss_\($0)_eV," }.joined()
            + "thermostat_eV,com_drift_A,wall_s,out_of_range,potential_eV,conserved_eV,nonconservative_work_eV"
    }

    /// Watches the training range at every output step (thermo.csv's `out_of_range`: the
    /// fraction of agents outside it; empty without a guard).
    public var extrapolation: ExtrapolationGuard?

    /// The files a run directory holds; `--force` replaces these and nothing else.
    public static let fileNames = [xyzFileName, netcdfFileName, "thermo.csv", "run.json", "checkpoint.bin", RunDirectoryLock.fileName]

    /// Checks that `path` may become a new run directory: it does not exist or is empty. One
    /// that holds a run (run.json) or anything else is refused, unless `force`: then the run's
    /// own files (`fileNames`) are replaced and nothing else there is touched.
    public static func checkNew(_ path: String, force: Bool) throws {
        if !force && FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("run.json")) {
            throw MLDError.usage("\(path) already holds a run; continue it with --resume \(path), choose another --out, or give --force to replace it")
        }
        try OutputPlace.checkDirectory(path, option: "--out", what: "run", force: force, isOurs: { _ in false })
    }

    /// Creates a new run directory (`checkNew`: refusing one that already holds a run or other
    /// files, unless `force`) and writes step 0. With `force` over an earlier run (run.json), the
    /// earlier run's trajectory file that this run does not write (trajectory.xyz or
    /// trajectory.nc) is removed, so that the directory holds one run's frames only.
    public init(creating path: String, record: RunRecord, simulation: Simulation, rng: SplitMix64,
                force: Bool = false, extrapolation: ExtrapolationGuard? = nil) throws {
        self.path = path
        self.extrapolation = extrapolation
        self.record = record
        self.rng = rng
        let fm = FileManager.default
        try Self.checkNew(path, force: force)
        let format = record.trajectoryFiles
        let heldRun = fm.fileExists(atPath: (path as NSString).appendingPathComponent("run.json"))
        do { try fm.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw MLDError.output(file: path, problem: "cannot create the run directory (\(error.localizedDescription))")
        }
        lock = try RunDirectoryLock(path)
        let traj = (path as NSString).appendingPathComponent(Self.xyzFileName)
        let nc = (path as NSString).appendingPathComponent(Self.netcdfFileName)
        let csv = (path as NSString).appendingPathComponent("thermo.csv")
        if force && heldRun {
            for p in [traj, nc] where !format.fileNames.contains((p as NSString).lastPathComponent)
                && OutputPlace.state(p) == .file {
                do { try fm.removeItem(atPath: p) } catch {
                    throw MLDError.output(file: p, problem: "cannot be removed (the earlier run's; \(error.localizedDescription))")
                }
            }
        }
        for p in [csv] + (format.writesXYZ ? [traj] : []) {
            guard fm.createFile(atPath: p, contents: nil) else {
                throw MLDError.output(file: p, problem: "cannot be created")
            }
        }
        trajectory = format.writesXYZ ? try Self.openForAppend(traj) : nil
        thermo = try Self.openForAppend(csv)
        netcdf = format.writesNetCDF
            ? try AmberNetCDFWriter(creating: nc, elements: simulation.elements.map(\.symbol), species: simulation.species)
            : nil
        trajectoryBytes = 0
        thermoBytes = 0
        trajectoryHash = SHA256.Hasher()
        thermoHash = SHA256.Hasher()
        wallBefore = 0
        firstStep = simulation.step
        try append(Self.thermoHeader(elements: record.elements) + "\n", to: thermo, counter: &thermoBytes, hash: &thermoHash, path: csv)
        try writeFrame(simulation)
        try checkpoint(simulation)
    }

    /// Opens an existing run at its checkpoint: takes the directory's lock, checks that the
    /// trajectory and thermo files are what the checkpoint recorded (at least its sizes, the
    /// same bytes up to them: SHA-256; for trajectory.nc at least its frames, the same numbers in
    /// them: `AmberNetCDF.Frame.digest`), then cuts them back to the checkpoint and appends from
    /// there. A damaged file is refused before anything is cut or written.
    ///
    /// trajectory.nc is cut back like this (NetCDF cannot shrink its unlimited frame dimension):
    /// when it counts more frames than the checkpoint (a run that failed after it closed the file),
    /// its first frames are copied into a temporary file beside it, which then replaces it; when it
    /// counts as many but is longer than at the checkpoint (frames written after it, the header not
    /// yet updated), it is truncated to its checkpointed size.
    ///
    /// - Parameter asked: the trajectory format the command line asks for, if it names one; a
    ///   different one from the run's is refused before anything is opened.
    public init(resuming path: String, trajectoryFormat asked: TrajectoryFormat? = nil) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("run.json")) else {
            throw MLDError.input(file: (path as NSString).appendingPathComponent("run.json"), line: nil, problem: "no such file (is \(path) a run directory?)")
        }
        lock = try RunDirectoryLock(path)
        let recPath = (path as NSString).appendingPathComponent("run.json")
        guard let data = FileManager.default.contents(atPath: recPath) else {
            throw MLDError.input(file: recPath, line: nil, problem: "no such file (is \(path) a run directory?)")
        }
        do { record = try RunRecord.decoder.decode(RunRecord.self, from: data) } catch {
            throw MLDError.input(file: recPath, line: nil, problem: "not a valid run record (\(Self.describe(error)))")
        }
        if let problem = record.settings.problem {
            throw MLDError.input(file: recPath, line: nil, problem: "not a valid run record: settings.\(problem)")
        }
        guard (0...SimulationSettings.maximumInterval).contains(record.targetSteps) else {
            throw MLDError.input(file: recPath, line: nil, problem: "not a valid run record: targetSteps \(record.targetSteps) is not 0 to \(SimulationSettings.maximumInterval)")
        }
        let format = record.trajectoryFiles
        if let asked, asked != format {
            throw MLDError.usage("the run in \(path) writes its trajectory as \(format.rawValue) (run.json) but --trajectory-format \(asked.rawValue) was given; a run continues in the format it started with")
        }
        let ckPath = (path as NSString).appendingPathComponent("checkpoint.bin")
        let ck = try Checkpoint(contentsOf: ckPath)
        guard format.writesNetCDF == (ck.netcdfFrames != nil) else {
            throw MLDError.input(file: ckPath, line: nil, problem: format.writesNetCDF
                ? "records no trajectory.nc frames but run.json says the run writes trajectory.nc; the run directory is damaged, nothing was changed"
                : "records trajectory.nc frames but run.json says the run writes no trajectory.nc; the run directory is damaged, nothing was changed")
        }
        rng = SplitMix64(seed: 0)
        rng.state = ck.rngState
        trajectoryBytes = ck.trajectoryBytes
        thermoBytes = ck.thermoBytes
        wallBefore = ck.wallSeconds
        firstStep = ck.step
        let traj = (path as NSString).appendingPathComponent(Self.xyzFileName)
        let nc = (path as NSString).appendingPathComponent(Self.netcdfFileName)
        let csv = (path as NSString).appendingPathComponent("thermo.csv")
        // Every file is checked before any is cut.
        trajectoryHash = format.writesXYZ ? try Self.verify(traj, bytes: ck.trajectoryBytes, sha256: ck.trajectorySHA256) : SHA256.Hasher()
        thermoHash = try Self.verify(csv, bytes: ck.thermoBytes, sha256: ck.thermoSHA256)
        var cut: NetCDFCut?
        if let frames = ck.netcdfFrames {
            cut = try Self.verifyNetCDF(nc, frames: frames, bytes: ck.netcdfBytes, sha256: ck.netcdfSHA256, checkpoint: ck)
        }
        do {
            trajectory = format.writesXYZ ? try Self.openForAppend(traj, truncateTo: ck.trajectoryBytes) : nil
            thermo = try Self.openForAppend(csv, truncateTo: ck.thermoBytes)
            if let cut {
                netcdfHash = cut.hash
                netcdf = try Self.cutNetCDF(nc, cut)
            } else {
                netcdf = nil
            }
        } catch {
            if let copy = cut?.copy { try? FileManager.default.removeItem(atPath: copy); TemporaryPaths.unregister(copy) }
            throw error
        }
        checkpointData = ck
    }

    /// What a resume does to trajectory.nc, decided by `verifyNetCDF` before any file is cut.
    struct NetCDFCut {
        /// The digest of the frames kept.
        var hash: SHA256.Hasher
        /// The frames kept.
        var frames: Int
        /// A temporary file holding just those frames, to replace the trajectory.
        var copy: String?
        /// The byte size to cut the trajectory to (nil: leave it).
        var truncateTo: UInt64?
    }

    /// Checks trajectory.nc against the checkpoint: the same atoms, at least its `frames`, whose
    /// digest is `sha256` (when recorded) and, when the file counts just that many frames, at
    /// least `bytes` bytes. A file counting more frames has its first `frames` copied into a
    /// temporary file beside it (as they are read to be checked).
    static func verifyNetCDF(_ p: String, frames n: Int, bytes: UInt64?, sha256: String?, checkpoint ck: Checkpoint) throws -> NetCDFCut {
        let r = try AmberNetCDFReader(p)
        let unchanged = "the run directory is damaged, nothing was changed"
        guard r.atoms == ck.positions.count else {
            throw MLDError.input(file: p, line: nil, problem: "holds \(r.atoms) atoms, the checkpoint \(ck.positions.count); \(unchanged)")
        }
        guard r.frameCount >= n else {
            throw MLDError.input(file: p, line: nil, problem: "holds \(r.frameCount) frames, fewer than the \(n) at the checkpoint; \(unchanged)")
        }
        var size: UInt64?
        if r.frameCount == n, let bytes {
            var st = stat()
            let have = stat(p, &st) == 0 ? UInt64(st.st_size) : 0
            guard have >= bytes else {
                throw MLDError.input(file: p, line: nil, problem: "shorter (\(have) bytes) than at the checkpoint (\(bytes) bytes); \(unchanged)")
            }
            if have > bytes { size = bytes }
        }
        var writer: AmberNetCDFWriter?
        var copy: String?
        if r.frameCount > n {
            let url = URL(fileURLWithPath: p)
            let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp").path
            TemporaryPaths.register(tmp)
            copy = tmp
            do {
                writer = try AmberNetCDFWriter(creating: tmp, elements: ck.elements.map(\.symbol), species: ck.species,
                                               title: r.attributes["title"] ?? "mld run",
                                               programVersion: r.attributes["programVersion"] ?? AmberNetCDF.programVersion)
            } catch {
                TemporaryPaths.unregister(tmp)
                throw error
            }
        }
        do {
            let h = try r.digest(frames: n) { try writer?.append($0) }
            if let sha256, h.hex != sha256 {
                throw MLDError.input(file: p, line: nil, problem: "its first \(n) frames are not those the checkpoint recorded (SHA-256 differs); the file was changed after the checkpoint, nothing was changed")
            }
            try writer?.close()
            return NetCDFCut(hash: h, frames: n, copy: copy, truncateTo: size)
        } catch {
            writer = nil
            if let copy { try? FileManager.default.removeItem(atPath: copy); TemporaryPaths.unregister(copy) }
            throw error
        }
    }

    /// Cuts trajectory.nc back as `cut` says and opens it to append.
    static func cutNetCDF(_ p: String, _ cut: NetCDFCut) throws -> AmberNetCDFWriter {
        if let copy = cut.copy {
            guard rename(copy, p) == 0 else {
                throw MLDError.output(file: p, problem: "cannot be replaced by its first \(cut.frames) frames (\(String(cString: strerror(errno))))")
            }
            TemporaryPaths.unregister(copy)
        }
        if let size = cut.truncateTo {
            guard truncate(p, off_t(size)) == 0 else {
                throw MLDError.output(file: p, problem: "cannot be cut back to \(size) bytes (\(String(cString: strerror(errno))))")
            }
        }
        let w = try AmberNetCDFWriter(appendingTo: p)
        guard w.frameCount == cut.frames else {
            throw MLDError.output(file: p, problem: "holds \(w.frameCount) frames after being cut back to \(cut.frames)")
        }
        return w
    }

    /// A decoding error in a few words, on one line (the field and what was wrong).
    static func describe(_ error: Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ") }
        func path(_ c: [CodingKey]) -> String { c.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined() }
        switch e {
        case let .keyNotFound(k, c): return "missing \"\(k.stringValue)\"" + (c.codingPath.isEmpty ? "" : " in \(path(c.codingPath).dropFirst())")
        case let .typeMismatch(_, c), let .valueNotFound(_, c): return "wrong type or null at \(path(c.codingPath).dropFirst())"
        case let .dataCorrupted(c): return c.codingPath.isEmpty ? "not JSON" : "bad value at \(path(c.codingPath).dropFirst())"
        @unknown default: return "unreadable"
        }
    }

    /// The checkpoint a resumed directory was opened at.
    public private(set) var checkpointData: Checkpoint?

    deinit {
        try? trajectory?.close()
        try? thermo.close()
        try? netcdf?.close()
    }

    /// Reads the first `bytes` of the file at `p` and checks them against the checkpoint's
    /// SHA-256 (when it has one: version 3); returns the hasher holding them, to go on with.
    static func verify(_ p: String, bytes: UInt64, sha256: String?) throws -> SHA256.Hasher {
        guard let h = FileHandle(forReadingAtPath: p) else {
            throw MLDError.input(file: p, line: nil, problem: "cannot be read (the run directory is damaged)")
        }
        defer { try? h.close() }
        var hasher = SHA256.Hasher()
        var last: UInt8?
        do {
            while hasher.count < bytes {
                let want = Int(min(UInt64(1 << 20), bytes - hasher.count))
                guard let d = try h.read(upToCount: want), !d.isEmpty else { break }
                hasher.update(d)
                last = d.last
            }
        } catch {
            throw MLDError.input(file: p, line: nil, problem: "cannot be read (\(error.localizedDescription))")
        }
        guard hasher.count == bytes else {
            throw MLDError.input(file: p, line: nil, problem: "shorter (\(hasher.count) bytes) than at the checkpoint (\(bytes) bytes); the run directory is damaged, nothing was changed")
        }
        // Without a recorded digest (a checkpoint older than version 3), at least the cut must
        // fall at the end of a line (a frame or a row).
        if sha256 == nil, bytes > 0, last != UInt8(ascii: "\n") {
            throw MLDError.input(file: p, line: nil, problem: "byte \(bytes), where the checkpoint cuts it, is not the end of a line; the file was changed after the checkpoint, nothing was changed")
        }
        if let sha256, hasher.hex != sha256 {
            throw MLDError.input(file: p, line: nil, problem: "its first \(bytes) bytes are not those the checkpoint recorded (SHA-256 differs); the file was changed after the checkpoint, nothing was changed")
        }
        return hasher
    }

    static func openForAppend(_ p: String, truncateTo size: UInt64? = nil) throws -> FileHandle {
        guard let h = FileHandle(forWritingAtPath: p) else {
            throw MLDError.output(file: p, problem: "cannot be opened for writing")
        }
        do {
            let end = try h.seekToEnd()
            if let size {
                guard end >= size else {
                    throw MLDError.input(file: p, line: nil, problem: "shorter (\(end) bytes) than at the checkpoint (\(size) bytes); the run directory is damaged")
                }
                try h.truncate(atOffset: size)
                try h.seek(toOffset: size)
            }
        } catch let e as MLDError { throw e } catch {
            throw MLDError.output(file: p, problem: "cannot be positioned (\(error.localizedDescription))")
        }
        return h
    }

    private func append(_ s: String, to h: FileHandle, counter: inout UInt64, hash: inout SHA256.Hasher,
                        path p: String) throws {
        let d = Data(s.utf8)
        do { try h.write(contentsOf: d) } catch {
            throw MLDError.output(file: p, problem: "write failed (\(error.localizedDescription))")
        }
        counter += UInt64(d.count)
        hash.update(d)
    }

    /// Wall seconds of the whole run so far.
    public var wallSeconds: Double {
        wallBefore + Double(DispatchTime.now().uptimeNanoseconds - segmentStart) * 1e-9
    }

    /// Appends the current frame to the trajectory (trajectory.xyz, trajectory.nc or both) and a
    /// row to thermo.csv.
    public func writeFrame(_ s: Simulation) throws {
        try s.synchronize()
        if let trajectory {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try append(ExtendedXYZ.format(s.configuration), to: trajectory, counter: &trajectoryBytes, hash: &trajectoryHash, path: trajectoryPath)
            record.timings.xyzWriteSeconds = (record.timings.xyzWriteSeconds ?? 0) + Self.seconds(since: t0)
        }
        if let netcdf {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let f = AmberNetCDF.Frame(configuration: s.configuration)
            try netcdf.append(f)
            f.digest(into: &netcdfHash)
            record.timings.netcdfWriteSeconds = (record.timings.netcdfWriteSeconds ?? 0) + Self.seconds(since: t0)
        }
        var row = "\(s.step),\(fmt(s.time, 4)),\(fmt(s.kineticEnergy, 8)),\(fmt(s.temperature, 4))"
        for l in s.meanLossPerSpecies { row += "," + fmt(l, 8) }
        row += ",\(fmt(s.thermostat.energy, 8)),\(String(format: "%.4e", s.centreOfMassDrift)),\(fmt(wallSeconds, 3)),"
        if let g = extrapolation {
            let known = (s.backend as? CPUBackend)?.outsideTrainingRange
            let f = try g.check(s.configuration, step: s.step,
                                flags: known.flatMap { $0.positions == s.positions ? $0.flags : nil })
            row += String(format: "%.4f", f)
            record.summary.outOfRangeLastFrame = f
        }
        row += ",\(fmt(s.potentialEnergy, 8)),\(fmt(s.conservedEnergy, 8)),\(fmt(s.nonConservativeWork, 8))\n"
        try append(row, to: thermo, counter: &thermoBytes, hash: &thermoHash, path: thermoPath)
    }

    private func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

    static func seconds(since t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 }

    /// Writes the checkpoint (after flushing the data files) and run.json.
    public func checkpoint(_ s: Simulation) throws {
        try s.synchronize()
        try? trajectory?.synchronize()
        try? thermo.synchronize()
        var ck = Checkpoint(simulation: s, rngState: rng.state, wallSeconds: wallSeconds,
                            trajectoryBytes: trajectoryBytes, thermoBytes: thermoBytes,
                            trajectorySHA256: trajectoryHash.hex, thermoSHA256: thermoHash.hex)
        if let netcdf {
            // The frame count goes into the file's header with the frames (nc_sync).
            try netcdf.sync()
            ck.netcdfFrames = netcdf.frameCount
            ck.netcdfSHA256 = netcdfHash.hex
            var st = stat()
            guard stat(netcdfPath, &st) == 0 else {
                throw MLDError.output(file: netcdfPath, problem: "cannot be measured (\(String(cString: strerror(errno))))")
            }
            ck.netcdfBytes = UInt64(st.st_size)
        }
        try ck.write(to: checkpointPath)
        record.stepsDone = s.step
        try writeRecord(s)
    }

    /// Updates and writes run.json.
    public func writeRecord(_ s: Simulation, status: String? = nil) throws {
        if let status { record.status = status }
        let wall = wallSeconds
        let st = s.statistics
        record.timings.wallSeconds = wall
        record.timings.forceSeconds = s.forceSeconds
        let segWall = wall - wallBefore
        let steps = Double(s.step - firstStep)
        if segWall > 0 && steps > 0 {
            record.timings.stepsPerSecond = steps / segWall
            record.timings.atomStepsPerSecond = steps * Double(s.positions.count) / segWall
            record.timings.nsPerDay = steps / segWall * s.settings.timeStep * 1e-6 * 86400
        }
        record.timings.neighbourListBuilds = s.backend.neighbourListBuilds
        record.summary.meanTemperature = st.meanTemperature
        record.summary.temperatureStd = st.temperatureStd
        record.summary.canonicalTemperatureStd = s.canonicalTemperatureStd
        if st.bonds > 0 {
            record.summary.meanOHBond = st.meanBond
            record.summary.stdOHBond = st.bondStd
            record.summary.minOHBond = st.minBond
            record.summary.maxOHBond = st.maxBond
        }
        record.summary.centreOfMassDrift = s.centreOfMassDrift
        record.summary.meanNetForcePerAtom = st.meanNetForce
        record.summary.thermostatEnergy = s.thermostat.energy
        let seg = RunRecord.Segment(firstStep: firstStep, lastStep: s.step, wallSeconds: segWall,
                                    backend: s.backend.name, device: s.backend.deviceName)
        if let last = record.segments.last, last.firstStep == firstStep {
            record.segments[record.segments.count - 1] = seg
        } else {
            record.segments.append(seg)
        }
        try AtomicFile.write(try RunRecord.encoder.encode(record), to: recordPath)
    }

    /// How a call to `run` ended.
    public enum Outcome: Equatable {
        case completed
        /// Stopped on request after a whole step, checkpoint written; the reason (e.g. "SIGINT").
        case interrupted(String)
    }

    /// Advances `s` until step `lastStep`, writing a frame and a thermo row every `every` steps,
    /// a checkpoint every `checkpointInterval` steps and at the end. A stop request ends it after
    /// the current step with a checkpoint. A blow-up writes run.json with the failure and
    /// rethrows; the files keep everything written before it.
    public func run(_ s: Simulation, until lastStep: Int, stop: StopRequest? = nil,
                    progress: ProgressMeter? = nil) throws -> Outcome {
        let every = s.settings.every
        let ckEvery = s.settings.checkpointInterval
        record.targetSteps = lastStep
        try writeRecord(s, status: "running")
        // Whatever stops the loop (a blow-up, a write that fails), run.json ends in a final state.
        do {
            while s.step < lastStep {
                if let why = stop?.reason(at: s.step) {
                    try checkpoint(s)
                    try writeRecord(s, status: "interrupted at step \(s.step) (\(why))")
                    progress?.finish(step: s.step)
                    return .interrupted(why)
                }
                try s.advance()
                if s.step % every == 0 { try writeFrame(s) }
                if s.step % ckEvery == 0 && s.step < lastStep { try checkpoint(s) }
                progress?.update(step: s.step)
            }
            try checkpoint(s)
            try writeRecord(s, status: "completed")
        } catch {
            progress?.finish(step: s.step)
            try? writeRecord(s, status: "failed: \(error)")
            throw error
        }
        progress?.finish(step: s.step)
        return .completed
    }
}

/// Progress of a run on standard error: on a terminal a live line (percent, simulated ps,
/// steps/s, ns/day, time left) redrawn with `\r`; otherwise a plain line every few seconds.
public final class ProgressMeter {
    let firstStep: Int, lastStep: Int
    let dt: Double
    let terminal: Bool
    let interval: Double
    let start = DispatchTime.now().uptimeNanoseconds
    var lastPrint: UInt64 = 0
    var printed = false
    let write: (String) -> Void

    /// - Parameters: dt in fs; `terminal` chooses the live line; `interval` is seconds between
    ///   plain lines (0.25 s between live redraws).
    public init(firstStep: Int, lastStep: Int, dt: Double, terminal: Bool = isatty(2) != 0,
                interval: Double = 5, write: @escaping (String) -> Void = {
                    FileHandle.standardError.write(Data($0.utf8)) }) {
        self.firstStep = firstStep
        self.lastStep = lastStep
        self.dt = dt
        self.terminal = terminal
        self.interval = terminal ? 0.25 : interval
        self.write = write
    }

    public func update(step: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        guard Double(now - max(lastPrint, start)) * 1e-9 >= interval else { return }
        lastPrint = now
        let line = self.line(step: step, now: now)
        write(terminal ? "\r" + line + "\u{1B}[K" : line + "\n")
        printed = true
    }

    public func finish(step: Int) {
        if terminal && printed { write("\r" + line(step: step, now: DispatchTime.now().uptimeNanoseconds) + "\u{1B}[K\n") }
    }

    func line(step: Int, now: UInt64) -> String {
        let elapsed = max(Double(now - start) * 1e-9, 1e-9)
        let done = step - firstStep
        let rate = Double(done) / elapsed
        let total = max(lastStep - firstStep, 1)
        let left = rate > 0 ? Double(lastStep - step) / rate : 0
        let nsDay = rate * dt * 1e-6 * 86400
        return String(format: "step %d/%d  %5.1f%%  %.3f ps  %.0f steps/s  %.2f ns/day  %@ left",
                      step, lastStep, 100 * Double(done) / Double(total), Double(step) * dt * 1e-3,
                      rate, nsDay, Self.duration(left))
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        if t >= 3600 { return String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) }
        if t >= 60 { return String(format: "%dm%02ds", t / 60, t % 60) }
        return "\(t)s"
    }
}
