# Minifies the widget or bundles the dashboard; the build runs it
# (web/CMakeLists.txt) as
#   cmake -DNPM=<npm> -DTOOLS=<dir> -DSOURCE=<web/> -DOUTPUT=<file> [-DWHAT=dashboard] -P esbuild.cmake
# esbuild and uPlot are installed into TOOLS with `npm ci` from SOURCE's
# package-lock.json when missing there, or installed from another lock file
# (the hash of the one installed is kept in TOOLS/installed-lock.sha256).
# Then SOURCE/widget.js is minified into OUTPUT: ES2017 as the source is, UTF-8
# kept as it is (the server sends charset=utf-8) rather than escaped, no
# comments but a banner, no source map. With WHAT=dashboard,
# SOURCE/dashboard/main.js and the modules and CSS it imports (uPlot's from
# TOOLS/node_modules) become one minified script OUTPUT and, beside it, one
# stylesheet of the same base name (.css).
cmake_minimum_required(VERSION 3.18)

set(esbuild ${TOOLS}/node_modules/.bin/esbuild)
set(installed_hash_file ${TOOLS}/installed-lock.sha256)
file(SHA256 ${SOURCE}/package-lock.json wanted_hash)
set(installed_hash "")
if(EXISTS ${esbuild} AND EXISTS ${installed_hash_file})
  file(READ ${installed_hash_file} installed_hash)
endif()

if(NOT installed_hash STREQUAL wanted_hash)
  message(STATUS "Installing esbuild and uPlot for web/: npm ci in ${TOOLS}")
  file(REMOVE ${installed_hash_file})
  file(MAKE_DIRECTORY ${TOOLS})
  file(COPY ${SOURCE}/package.json ${SOURCE}/package-lock.json DESTINATION ${TOOLS})
  execute_process(COMMAND ${NPM} ci --no-audit --no-fund --loglevel=error
                  WORKING_DIRECTORY ${TOOLS} RESULT_VARIABLE status)
  if(NOT status EQUAL 0 OR NOT EXISTS ${esbuild})
    message(FATAL_ERROR "`npm ci` in ${TOOLS} failed (${status}): esbuild, which minifies web/widget.js "
                        "and bundles web/dashboard/, is not installed. npm needs the registry the first time.")
  endif()
  file(WRITE ${installed_hash_file} ${wanted_hash})
endif()

if(WHAT STREQUAL "dashboard")
  if(NOT EXISTS ${TOOLS}/node_modules/uplot/package.json)
    message(FATAL_ERROR "uPlot is not installed in ${TOOLS}/node_modules: delete ${installed_hash_file} "
                        "and build again")
  endif()
  # The dashboard's modules live in the source tree, the packages in TOOLS:
  # esbuild looks for bare imports ('uplot') in NODE_PATH too.
  set(ENV{NODE_PATH} ${TOOLS}/node_modules)
  execute_process(COMMAND ${esbuild} ${SOURCE}/dashboard/main.js --bundle --format=iife --minify
                          --target=es2020 --charset=utf8 --legal-comments=none
                          "--banner:js=/* livetally dashboard, bundled from web/dashboard/ with uPlot (MIT) */"
                          --log-level=warning --outfile=${OUTPUT}
                  RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "esbuild could not bundle ${SOURCE}/dashboard/main.js (${status})")
  endif()
  return()
endif()

execute_process(COMMAND ${esbuild} ${SOURCE}/widget.js --minify --target=es2017 --charset=utf8
                        --legal-comments=none "--banner:js=/* livetally widget, minified from web/widget.js */"
                        --log-level=warning --outfile=${OUTPUT}
                RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "esbuild could not minify ${SOURCE}/widget.js (${status})")
endif()
