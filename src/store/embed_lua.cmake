# cmake -DLUA_DIR=<dir> -DOUT=<header> -P embed_lua.cmake
#
# Writes every <dir>/<name>.lua into <header> as
#   static const char lt_script_<name>[] = {...bytes..., 0};
# so the scripts are plain .lua files in the source tree (readable, linted
# and run on their own by tests/integration/test_lua_scripts.py) and C
# strings in the build. Bytes rather than a string literal: no escaping to
# get wrong and no length limit.
cmake_minimum_required(VERSION 3.18)
file(GLOB scripts ${LUA_DIR}/*.lua)
list(SORT scripts)
set(text "/* Generated from the .lua files in src/store/lua/ by src/store/embed_lua.cmake: do not edit.\n")
string(APPEND text " * The scripts and what each takes and returns: the .lua files. */\n")
string(APPEND text "#ifndef LIVETALLY_STORE_SCRIPTS_H\n#define LIVETALLY_STORE_SCRIPTS_H\n")
foreach(f ${scripts})
  get_filename_component(name ${f} NAME_WE)
  file(READ ${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){16})" "\\1\n    " bytes "${bytes}")
  string(APPEND text "\nstatic const char lt_script_${name}[] = {\n    ${bytes}0x00};\n")
endforeach()
string(APPEND text "\n#endif\n")
# Rewritten only when changed, so an unchanged script rebuilds nothing.
if(EXISTS ${OUT})
  file(READ ${OUT} old)
  if(old STREQUAL text)
    return()
  endif()
endif()
file(WRITE ${OUT} "${text}")
