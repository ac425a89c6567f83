import Foundation

/// The rule every command follows before it writes: mld never replaces or deletes what it did
/// not write.
///
/// - An output **file** that does not exist is written. One that exists is replaced only when
///   mld recognises it as its own kind of output (a model file, a fit-scan CSV, a bench report:
///   `isOurs`), or with `--force`; anything else is refused in one line naming the file.
/// - An output **directory** (a run, a report) that does not exist or is empty is used. One
///   that holds something is used only when it is mld's own (`isOurs`: a run directory with
///   `run.json`, a report with its manifest), or with `--force`; even then only the files mld
///   itself writes there are replaced and nothing else in it is touched.
public enum OutputPlace {
    /// What is at `path` now.
    public enum State: Equatable {
        case absent, emptyDirectory, directory, file
    }

    public static func state(_ path: String) -> State {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            // A dangling symbolic link is still something that is there.
            if (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil { return .file }
            return .absent
        }
        guard isDir.boolValue else { return .file }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? ["?"]
        return entries.isEmpty ? .emptyDirectory : .directory
    }

    /// Checks that `path` may be written as an output file of `option` (e.g. "--out").
    /// - Parameter isOurs: whether an existing file is one mld writes (then it is replaced).
    public static func checkFile(_ path: String, option: String, force: Bool,
                                 isOurs: (String) -> Bool = { _ in false }) throws {
        switch state(path) {
        case .absent: return
        case .emptyDirectory, .directory:
            throw MLDError.output(file: path, problem: "is a directory; \(option) needs a file name")
        case .file:
            if force || isOurs(path) { return }
            throw MLDError.output(file: path, problem: "exists and was not written by mld; choose another \(option), or give --force to replace it")
        }
    }

    /// Checks that `path` may be used as an output directory of `option`.
    /// - Parameters:
    ///   - what: what mld writes there ("report", "run"), for the message.
    ///   - isOurs: whether a non-empty directory is one mld wrote (then its files are replaced).
    public static func checkDirectory(_ path: String, option: String, what: String, force: Bool,
                                      isOurs: (String) -> Bool) throws {
        switch state(path) {
        case .absent, .emptyDirectory: return
        case .file:
            throw MLDError.output(file: path, problem: "is a file; \(option) needs a directory for the \(what)")
        case .directory:
            if force || isOurs(path) { return }
            throw MLDError.output(file: path, problem: "is not empty and is not an mld \(what) directory; choose another \(option), or give --force (only the \(what)'s own files are then replaced)")
        }
    }

    /// Whether `path` is a JSON object file whose top-level keys include all of `keys` (and,
    /// for each key of `values`, that string value). Reads at most `limit` bytes.
    public static func isJSONObject(_ path: String, keys: [String], values: [String: String] = [:],
                                    limit: Int = 64 << 20) -> Bool {
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
              let size = attrs[.size] as? Int, size <= limit,
              let data = FileManager.default.contents(atPath: path),
              let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return false }
        guard keys.allSatisfy({ obj[$0] != nil }) else { return false }
        return values.allSatisfy { obj[$0.key] as? String == $0.value }
    }

    /// The first line of `path` (at most 4 KiB read), nil if unreadable.
    public static func firstLine(_ path: String) -> String? {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        guard let d = try? h.read(upToCount: 4096) else { return nil }
        return String(decoding: d, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .first.map(String.init)
    }
}

/// Temporary files and directories a command is writing, removed if the process is stopped
/// by SIGINT or SIGTERM before it renames them into place (`TemporaryPaths.removeAll`).
public enum TemporaryPaths {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths: Set<String> = []

    public static func register(_ path: String) { lock.lock(); paths.insert(path); lock.unlock() }
    public static func unregister(_ path: String) { lock.lock(); paths.remove(path); lock.unlock() }
    public static var current: Set<String> { lock.lock(); defer { lock.unlock() }; return paths }

    /// Runs `body` (moving finished files into place) so that `removeAll` waits for it to end:
    /// a signal never leaves an output half moved.
    public static func moving<T>(_ body: () throws -> T) rethrows -> T {
        movingLock.lock()
        defer { movingLock.unlock() }
        return try body()
    }
    private static let movingLock = NSLock()

    /// Removes every registered path (a few tries: a writer may still be adding files), after
    /// any `moving` block under way has ended.
    public static func removeAll() {
        movingLock.lock()
        lock.lock()
        let all = paths
        lock.unlock()
        for p in all {
            for _ in 0..<5 {
                try? FileManager.default.removeItem(atPath: p)
                if !FileManager.default.fileExists(atPath: p) { break }
                usleep(20_000)
            }
        }
    }
}
