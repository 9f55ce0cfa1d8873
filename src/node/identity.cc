#include "node/identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "crypto/key_file.h"

namespace medmesh::node {
namespace {

// Reads at most max_bytes + 1 bytes from an open descriptor.
Result<Bytes> ReadAll(int fd, std::size_t max_bytes, const std::filesystem::path& file) {
  Bytes out;
  std::uint8_t buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable("cannot read " + file.string());
    }
    if (n == 0) break;
    out.insert(out.end(), buffer, buffer + n);
    if (out.size() > max_bytes) return ResourceExhausted(file.string() + " is too large");
  }
  return out;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool IsTokenChar(std::uint8_t c) { return c > 0x20 && c < 0x7f; }

}  // namespace

Result<Bytes> ReadSmallFile(const std::filesystem::path& file, std::size_t max_bytes) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return NotFound(file.string() + " does not exist");
    return Unavailable("cannot open " + file.string());
  }
  return ReadAll(fd.get(), max_bytes, file);
}

Status WriteFileAtomically(const std::filesystem::path& file, ByteView contents, unsigned mode) {
  const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
  std::string tmp = (dir / ("." + file.filename().string() + ".XXXXXX")).string();
  std::vector<char> name(tmp.begin(), tmp.end());
  name.push_back('\0');
  const int raw = ::mkostemp(name.data(), O_CLOEXEC);
  if (raw < 0) return Unavailable("cannot create a temporary file beside " + file.string());
  Fd fd(raw);
  const std::string tmp_name(name.data());
  auto fail = [&tmp_name, &file]() -> Status {
    ::unlink(tmp_name.c_str());
    return Unavailable("cannot write " + file.string());
  };
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) return fail();
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail();
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail();
  if (::rename(tmp_name.c_str(), file.c_str()) != 0) return fail();
  // Make the rename itself durable.
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) ::fsync(dir_fd.get());
  return OkStatus();
}

Result<RootOfTrust> ParseRootCertificate(ByteView certificate, std::int64_t now_ms) {
  MEDMESH_ASSIGN_OR_RETURN(wire::SignedCertificate parsed, wire::ParseCertificate(certificate));
  if (parsed.certificate.role != wire::CertificateRole::kRoot) {
    return PermissionDenied("the root certificate file holds a " +
                            std::string(wire::CertificateRoleName(parsed.certificate.role)) +
                            " certificate");
  }
  // Self-signed: verifying it with its own key checks the signature and the validity.
  MEDMESH_ASSIGN_OR_RETURN(wire::VerifiedCertificate verified,
                           wire::VerifyCertificate(certificate, parsed.certificate.signing_key,
                                                   wire::CertificateRole::kRoot, now_ms));
  return RootOfTrust{Bytes(certificate.begin(), certificate.end()),
                     verified.certificate().signing_key, verified.certificate().subject_id};
}

Result<RootOfTrust> LoadRootCertificate(const std::filesystem::path& file, std::int64_t now_ms) {
  MEDMESH_ASSIGN_OR_RETURN(Bytes bytes, ReadSmallFile(file, wire::kMaxCertificateBytes));
  auto root = ParseRootCertificate(bytes, now_ms);
  if (!root) return Error(root.error().code(), file.string() + ": " + root.error().message());
  return root;
}

Result<NodeIdentity> LoadNodeIdentity(const std::filesystem::path& key_file,
                                      const std::filesystem::path& certificate_file,
                                      const std::filesystem::path& root_certificate_file,
                                      wire::CertificateRole role, std::string_view node_id,
                                      std::int64_t now_ms) {
  MEDMESH_ASSIGN_OR_RETURN(RootOfTrust root, LoadRootCertificate(root_certificate_file, now_ms));
  auto keys = crypto::ReadKeyFile(key_file);
  if (!keys) return Error(keys.error().code(), key_file.string() + ": " + keys.error().message());
  if (keys->type != crypto::KeyFileType::kNode || !keys->signing || !keys->kem) {
    return InvalidArgument(key_file.string() + " is not a key file of type \"node\"");
  }
  MEDMESH_ASSIGN_OR_RETURN(Bytes cert_bytes,
                           ReadSmallFile(certificate_file, wire::kMaxCertificateBytes));
  auto verified = wire::VerifyCertificate(cert_bytes, root.key, role, now_ms);
  if (!verified) {
    return Error(verified.error().code(),
                 certificate_file.string() + ": " + verified.error().message());
  }
  const wire::Certificate& cert = verified->certificate();
  if (cert.subject_id != node_id) {
    return FailedPrecondition(certificate_file.string() + " is issued to another node id");
  }
  if (!(cert.signing_key == keys->signing->public_key())) {
    return FailedPrecondition(certificate_file.string() + " certifies another signing key than " +
                              key_file.string());
  }
  if (!cert.kem_key || cert.kem_key->key_id() != keys->kem->public_key().key_id()) {
    return FailedPrecondition(certificate_file.string() + " certifies another KEM key than " +
                              key_file.string());
  }
  return NodeIdentity{std::move(root), std::move(*keys->signing), std::move(*keys->kem),
                      std::move(*verified)};
}

Result<crypto::KeyEncryptionKey> LoadKekFile(const std::filesystem::path& file, Random& random,
                                             bool create_if_missing, bool* created) {
  if (created != nullptr) *created = false;
  auto keys = crypto::ReadKeyFile(file);
  if (!keys && keys.error().code() == ErrorCode::kNotFound && create_if_missing) {
    const crypto::KeyFile fresh = crypto::GenerateKeyFile(crypto::KeyFileType::kKek, random);
    MEDMESH_RETURN_IF_ERROR(crypto::WriteKeyFile(file, fresh, /*overwrite=*/false));
    if (created != nullptr) *created = true;
    return fresh.kek->Clone();
  }
  if (!keys) return Error(keys.error().code(), file.string() + ": " + keys.error().message());
  if (keys->type != crypto::KeyFileType::kKek || !keys->kek) {
    return InvalidArgument(file.string() + " is not a key file of type \"kek\"");
  }
  return std::move(*keys->kek);
}

Result<SecretBytes> ReadTokenFile(const std::filesystem::path& file) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return NotFound("token file " + file.string() + " does not exist");
    if (errno == ELOOP) return PermissionDenied("token file " + file.string() + " is a link");
    return Unavailable("cannot open token file " + file.string());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return PermissionDenied("token file " + file.string() + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    return PermissionDenied("token file " + file.string() +
                            " is accessible by group or others; chmod 600 it");
  }
  if (st.st_uid != ::geteuid()) {
    return PermissionDenied("token file " + file.string() + " belongs to another user");
  }
  MEDMESH_ASSIGN_OR_RETURN(Bytes raw, ReadAll(fd.get(), kMaxTokenBytes + 2, file));
  SecretBytes wipe_raw{ByteView(raw)};
  std::fill(raw.begin(), raw.end(), 0);
  ByteView token = wipe_raw.reveal();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) {
    token = token.first(token.size() - 1);
  }
  if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes ||
      !std::all_of(token.begin(), token.end(), IsTokenChar)) {
    return InvalidArgument("token file " + file.string() + " must hold one line of " +
                           std::to_string(kMinTokenBytes) + ".." + std::to_string(kMaxTokenBytes) +
                           " printable characters");
  }
  return SecretBytes(token);
}

Status WriteTokenFile(const std::filesystem::path& file, Random& random) {
  SecretBytes raw(32);
  random.Fill(raw.mutable_bytes());
  static constexpr char kHex[] = "0123456789abcdef";
  SecretBytes text(65);
  for (std::size_t i = 0; i < 32; ++i) {
    text.mutable_bytes()[2 * i] = static_cast<std::uint8_t>(kHex[raw.reveal()[i] >> 4]);
    text.mutable_bytes()[2 * i + 1] = static_cast<std::uint8_t>(kHex[raw.reveal()[i] & 15]);
  }
  text.mutable_bytes()[64] = '\n';
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    if (errno == EEXIST) return AlreadyExists("token file " + file.string() + " already exists");
    return Unavailable("cannot create token file " + file.string());
  }
  const ByteView bytes = text.reveal();
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable("cannot write token file " + file.string());
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return Unavailable("cannot write token file " + file.string());
  return OkStatus();
}

bool BearerTokenMatches(std::optional<std::string_view> authorization, const SecretBytes& token) {
  if (!authorization || token.empty()) return false;
  std::string_view value = *authorization;
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    const char c = value[i];
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower != kScheme[i]) return false;
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  // The length of a token is not secret; its bytes are compared in constant time.
  return ConstantTimeEqual(AsBytes(value), token.reveal());
}

}  // namespace medmesh::node
