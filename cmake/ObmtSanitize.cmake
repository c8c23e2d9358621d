# OBMT_SANITIZE=thread|address|undefined: instrument everything built here.
# Under thread and address the sanitizer owns malloc, so the override library
# must not be preloaded; tests call obmt_* through the libraries instead.
if(OBMT_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -g -O1)
  add_link_options(-fsanitize=thread)
elseif(OBMT_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address)
elseif(OBMT_SANITIZE STREQUAL "undefined")
  add_compile_options(-fsanitize=undefined -fno-sanitize-recover=undefined -g)
  add_link_options(-fsanitize=undefined)
elseif(NOT OBMT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "OBMT_SANITIZE must be thread, address or undefined, not '${OBMT_SANITIZE}'")
endif()
