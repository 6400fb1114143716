complete --keep-order --exclusive --command qctl --arguments "(COMPLETE=fish qctl -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
