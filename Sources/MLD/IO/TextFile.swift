import CLZMA
import Foundation

/// Reads whole text files, decompressing `.xz` files through liblzma.
public enum TextFile {
    /// The bytes of `path`; a name ending in `.xz` is decompressed.
    public static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw MLDError.input(file: path, line: nil,
                                 problem: exists ? "cannot be read" : "no such file")
        }
        let bytes = [UInt8](data)
        return path.hasSuffix(".xz") ? try decompressXZ(bytes, path: path) : bytes
    }

    /// The lines of `path` (without their newline characters; CRLF line ends and a leading
    /// UTF-8 byte-order mark are accepted). A compressed or binary file (gzip, or xz not named
    /// `.xz`, or NUL bytes) is refused in one line instead of being read as garbled text.
    public static func lines(_ path: String) throws -> [Substring] {
        var bytes = try read(path)
        if bytes.starts(with: [0x1f, 0x8b]) {
            throw MLDError.input(file: path, line: nil, problem: "is gzip-compressed; mld reads plain text or .xz files (gunzip it, or xz it)")
        }
        if bytes.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) {
            throw MLDError.input(file: path, line: nil, problem: "is xz-compressed but its name does not end in .xz")
        }
        if bytes.starts(with: [0xef, 0xbb, 0xbf]) { bytes.removeFirst(3) }
        if let nul = bytes.firstIndex(of: 0) {
            let line = bytes[..<nul].reduce(1) { $1 == 0x0a ? $0 + 1 : $0 }
            throw MLDError.input(file: path, line: line, problem: "holds a NUL byte: not a text file")
        }
        return splitLines(String(decoding: bytes, as: UTF8.self))
    }

    /// `text` split at its line ends, "\n" or "\r\n" ("\r\n" is one Character, a lone "\r"
    /// stays in its line). A line feed is always a grapheme break of its own, so the line feeds
    /// are found as bytes: the same split as at those Characters, without walking the text
    /// Character by Character.
    static func splitLines(_ text: String) -> [Substring] {
        var lines: [Substring] = []
        let utf8 = text.utf8
        var start = utf8.startIndex
        var i = start
        var previous: UInt8 = 0
        while i != utf8.endIndex {
            let byte = utf8[i]
            if byte == 0x0a {
                // "\r\n" ends the line before its "\r"
                let end = previous == 0x0d ? utf8.index(before: i) : i
                lines.append(text[start..<end])
                start = utf8.index(after: i)
            }
            previous = byte
            i = utf8.index(after: i)
        }
        lines.append(text[start..<utf8.endIndex])
        return lines
    }

    /// Decompresses a whole .xz stream (liblzma's stream decoder).
    static func decompressXZ(_ input: [UInt8], path: String) throws -> [UInt8] {
        var stream = lzma_stream()
        guard lzma_stream_decoder(&stream, UInt64.max, 0) == LZMA_OK else {
            throw MLDError.input(file: path, line: nil, problem: "cannot start the xz decoder")
        }
        defer { lzma_end(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(input.count * 5)
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var status = LZMA_OK
        input.withUnsafeBufferPointer { inPtr in
            stream.next_in = inPtr.baseAddress
            stream.avail_in = inPtr.count
            buffer.withUnsafeMutableBufferPointer { outPtr in
                repeat {
                    stream.next_out = outPtr.baseAddress
                    stream.avail_out = chunk
                    status = lzma_code(&stream, LZMA_FINISH)
                    output.append(contentsOf: outPtr[0..<(chunk - stream.avail_out)])
                } while status == LZMA_OK
            }
        }
        guard status == LZMA_STREAM_END else {
            throw MLDError.input(file: path, line: nil,
                                 problem: "xz data is corrupt or truncated (liblzma status \(status.rawValue))")
        }
        return output
    }
}

/// Writes a file under a temporary name and renames it into place, so that a failure
/// never leaves a half-written file behind.
public enum AtomicFile {
    public static func write(_ text: String, to path: String) throws {
        try write(Data(text.utf8), to: path)
    }

    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        TemporaryPaths.register(tmp.path)
        defer { TemporaryPaths.unregister(tmp.path) }
        do {
            try data.write(to: tmp)
            // rename(2) replaces an existing file atomically (FileManager.replaceItemAt fails on Linux).
            guard rename(tmp.path, url.path) == 0 else {
                throw MLDError.output(file: path, problem: "cannot be replaced (\(String(cString: strerror(errno))))")
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw MLDError.output(file: path, problem: "cannot be written (\(error.localizedDescription))")
        }
    }
}
