"""The action protocols' names, shared by the code that runs them (`action.protocols`, which
writes them into every classifier run's result.json) and the code that reads results
(`evaluation.tables`), which must not import `action` for three strings (docs/protocols.md)."""

SINGLE_SHOT = 'single_shot'
FULLY_SUPERVISED = 'fully_supervised'
LIMITED = 'limited'
PROTOCOLS = (SINGLE_SHOT, FULLY_SUPERVISED, LIMITED)
