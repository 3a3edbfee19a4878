/// A reference from a task or an audit record to the resource it concerns.
public struct ResourceRef: Codable, Sendable, Hashable {
    public var kind: String
    public var id: String
    public var name: String?

    public init(kind: String, id: String, name: String?) {
        self.kind = kind
        self.id = id
        self.name = name
    }
}
