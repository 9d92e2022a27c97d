file(READ ${IN} TEXT)
file(WRITE ${OUT} "namespace loom::frontend { extern const char *const kPreludeText; const char *const kPreludeText = R\"loomprelude(${TEXT})loomprelude\"; }\n")
