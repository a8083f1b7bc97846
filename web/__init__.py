"""What the web faces (api/, console/, portal/) share: identity, the commands sent to the engine,
errors in French, the request guard, and the application that mounts the faces."""
