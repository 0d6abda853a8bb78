// Boost.Asio, Asio's SSL and Beast compiled once (BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION are set for the whole build in cmake/build-speed.cmake): their non-template
// code is otherwise compiled again, at -O2, in every translation unit that includes them.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
