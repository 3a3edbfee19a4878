/// The API contract: `openapi.yaml` here is a link to `openapi/dataverket.yaml`; the types, server stubs
/// and client in this module are generated from it by swift-openapi-generator at build time.
public enum APIContract {
    public static let version = "1.0.0"
}
