import DataverketCore

/// The issuer test servers and identities use.
public let testIssuer = "http://dataverket.test"

/// The operation context of calls a test makes below HTTP.
public let testContext = OperationContext(actor: "test:suite", correlationID: "test-correlation")
