import Foundation
import Testing

@Suite struct InfoCommandTests {
    @Test func infoJSONOnBundledData() throws {
        let r = try runMLD(["info", "--data", "Data/cp2k-water64-xtb-300K", "--json"])
        #expect(r.status == 0)
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        #expect(obj["atoms"] as? Int == 192)
        #expect(obj["frames"] as? Int == 900)
    }
}

@Suite struct CLIErrorTests {
    @Test func badDirectoryIsOneLineAndNonZero() throws {
        let dir = NSTemporaryDirectory() + "mld-cli-empty-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let r = try runMLD(["info", "--data", dir])
        #expect(r.status != 0)
        let lines = r.err.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains(dir) && lines[0].contains("empty directory"), "\(r.err)")
    }

    @Test func cellOptionIsValidated() throws {
        let r = try runMLD(["info", "--data", "Data/cp2k-water64-xtb-300K", "--cell", "1,-2,3"])
        #expect(r.status != 0)
        #expect(r.err.contains("--cell"), "\(r.err)")
    }

    @Test func devicesSaysSomething() throws {
        let r = try runMLD(["devices"])
        #expect(r.status == 0)
        #expect(!r.out.isEmpty)
    }
}
