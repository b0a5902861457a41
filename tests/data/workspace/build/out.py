def built_artifact(): pass
