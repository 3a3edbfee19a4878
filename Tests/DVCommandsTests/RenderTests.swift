import DataverketCore
@testable import DVCommands
import Foundation
import Testing
import Yams

/// Output formats, without a server.
@Suite("dv output formats")
struct RenderTests {
    struct Sample: Encodable {
        var name = "prod"
        var version: Int64 = 1
        var replicas = 3
        var ratio = 0.5
        var enabled = true
        var note: String? = nil
        var labels = ["tier": "1"]
        var ports = [80, 443]
    }

    @Test("YAML prints integers as integers, booleans as booleans, and quotes strings that look like numbers")
    func yamlTypes() throws {
        let yaml = try Render.yaml(Sample())
        #expect(yaml.contains("version: 1\n"), "\(yaml)")
        #expect(yaml.contains("replicas: 3\n"))
        #expect(!yaml.contains("e+"), "no exponent notation: \(yaml)")
        #expect(yaml.contains("ratio: 0.5\n"))
        #expect(yaml.contains("enabled: true\n"))
        #expect(yaml.contains("- 80\n") && yaml.contains("- 443\n"))
        let decoded = try #require(try Yams.load(yaml: yaml) as? [String: Any])
        #expect(decoded["version"] as? Int == 1)
        #expect((decoded["labels"] as? [String: String]) == ["tier": "1"], "the label value \"1\" stays a string")
        #expect(decoded["enabled"] as? Bool == true)
    }

    @Test("JSON keeps integers as integers too")
    func jsonIntegers() throws {
        let json = try Render.json(Sample())
        #expect(json.contains("\"version\" : 1\n"), "\(json)")
        #expect(json.contains("\"replicas\" : 3,"))
    }

    @Test("JSON values decode by type: an integral number is an integer, a fractional one a number")
    func values() throws {
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"a":1,"b":1.5,"c":true,"d":"1","e":null,"f":[2]}"#.utf8))
        #expect(value == .object(["a": .int(1), "b": .number(1.5), "c": .bool(true), "d": .string("1"), "e": .null, "f": .array([.int(2)])]))
    }
}
