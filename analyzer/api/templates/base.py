"""What every request body model shares: unknown fields are errors, fields
may be given by column name (the alias) or by their Python name."""
import base64
import binascii

from pydantic import BaseModel, Extra


class Body(BaseModel):
    class Config:
        extra = Extra.forbid
        allow_population_by_field_name = True


class Base64Str(str):
    """bytea columns travel as base64 text."""

    @classmethod
    def __get_validators__(cls):
        yield cls.validate

    @classmethod
    def __modify_schema__(cls, field_schema):
        field_schema.update(type="string", format="byte")

    @classmethod
    def validate(cls, v):
        if not isinstance(v, str):
            raise TypeError("base64 text required")
        try:
            base64.b64decode(v, validate=True)
        except binascii.Error:
            raise ValueError("not valid base64")
        return cls(v)
