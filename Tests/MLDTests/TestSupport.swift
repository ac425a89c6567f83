import Foundation

/// A fresh empty directory under the system temporary directory.
func temporaryDirectory(_ name: String = #function) throws -> String {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("mld-tests-\(safe)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// The test fixtures folder.
let fixtures: String = {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
}()
